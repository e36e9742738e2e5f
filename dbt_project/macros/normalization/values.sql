{#
    Value-level cleaning shared by every staging model. Each "parse" macro returns null for a
    value it cannot read; "is_unparseable" tells a blank apart from a bad value so the model can
    flag it instead of losing it silently.
#}

{% macro clean_text(expression) -%}
    nullif(trim({{ expression }}), '')
{%- endmacro %}


{% macro is_unparseable(raw_expression, parsed_expression) -%}
    ({{ clean_text(raw_expression) }} is not null and {{ parsed_expression }} is null)
{%- endmacro %}


{#- Trim + lowercase; null unless it looks like local@domain.tld. No provider-specific rewriting. -#}
{% macro normalize_email(expression) -%}
    case
        when {{ regexp_like('lower(trim(' ~ expression ~ '))', "[a-z0-9.!#$%&*+/=?^_{|}~-]+@[a-z0-9]([a-z0-9-]*[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\\.[a-z]{2,}") }}
            then lower(trim({{ expression }}))
    end
{%- endmacro %}


{% macro parse_boolean(expression) -%}
    case
        when lower(trim({{ expression }})) in ('true', 't', 'yes', 'y', '1') then true
        when lower(trim({{ expression }})) in ('false', 'f', 'no', 'n', '0') then false
    end
{%- endmacro %}


{#- Amounts keep cents by default; unit prices can be finer (e.g. 0.001 per item). -#}
{% macro parse_decimal(expression, scale=2) -%}
    {{ try_cast_text(clean_text(expression), 'decimal(18, ' ~ scale ~ ')') }}
{%- endmacro %}


{% macro parse_integer(expression) -%}
    {{ try_cast_text(clean_text(expression), dbt.type_int()) }}
{%- endmacro %}


{#- Upper-cased ISO 3166 alpha-2 code from a code or an English name; needs country_calling_codes
    joined as `countries` on the same expression (see join_country). -#}
{% macro join_country(relation_alias, country_expression) -%}
    left join {{ ref('country_calling_codes') }} as {{ relation_alias }}
        on upper(trim({{ country_expression }})) in (
            upper({{ relation_alias }}.country_code), upper({{ relation_alias }}.country_name)
        )
{%- endmacro %}
