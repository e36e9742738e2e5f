{#
    Phone numbers to E.164 in two steps, so the expensive regex runs once per row:

        phone_digits(raw)          -> the digits of the raw value ("(0)" trunk hints removed)
        phone_is_international(raw)-> the raw value starts with "+"
        e164_phone(...)            -> '+<country code><national number>' or null

    A number without a country code takes the record's country, else the
    `default_phone_country` var. Values that cannot be a real number (too short or long,
    a NANP number with a bad area code, or a placeholder such as 0000000000 and 1234567890)
    come back null; the model keeps the raw value's flag.

    Consent events and deletion requests carry no country, so a number written there without
    a country code (phone_is_national) is read in every country of `country_calling_codes`
    as well (national_phone_candidates): int_privacy__national_phone_matches matches those
    candidates against the customers' phones.
#}

{% macro phone_digits(raw_expression) -%}
    {{ regexp_replace_all("replace(" ~ raw_expression ~ ", '(0)', '')", '[^0-9]', '') }}
{%- endmacro %}


{% macro phone_is_international(raw_expression) -%}
    (trim({{ raw_expression }}) like '+%')
{%- endmacro %}


{% macro phone_is_placeholder(digits) -%}
    (
        {{ regexp_like(digits, '0+|1+|2+|3+|4+|5+|6+|7+|8+|9+') }}
        or {{ digits }} in ('1234567890', '0123456789', '123456789', '9876543210', '1234567')
    )
{%- endmacro %}


{% macro international_phone_digits(digits, is_international, calling_code, trunk_prefix, min_length, max_length) -%}
    case
        when {{ digits }} is null or {{ digits }} = '' or {{ phone_is_placeholder(digits) }} then null
        when {{ is_international }} then {{ digits }}
        when {{ digits }} like '00%' then substr({{ digits }}, 3)
        when {{ calling_code }} = '1' and length({{ digits }}) = 11 and {{ digits }} like '1%'
            then {{ digits }}
        when coalesce({{ trunk_prefix }}, '') <> ''
            and {{ digits }} like {{ trunk_prefix }} || '%'
            and length({{ digits }}) - length({{ trunk_prefix }})
            between {{ min_length }} and {{ max_length }}
            then {{ calling_code }} || substr({{ digits }}, length({{ trunk_prefix }}) + 1)
        when length({{ digits }}) between {{ min_length }} and {{ max_length }}
            then {{ calling_code }} || {{ digits }}
    end
{%- endmacro %}


{% macro e164_phone(international_digits) -%}
    case
        when length({{ international_digits }}) between 8 and 15
            and {{ international_digits }} not like '0%'
            and (
                {{ international_digits }} not like '1%'
                or (
                    length({{ international_digits }}) = 11
                    and substr({{ international_digits }}, 2, 1) between '2' and '9'
                    and substr({{ international_digits }}, 5, 1) between '2' and '9'
                )
            )
            then '+' || {{ international_digits }}
    end
{%- endmacro %}


{#- The columns a model selects to normalize `raw_expression` later with e164_from_parsed();
    `record_country` may be none for tables without a country (default country only). -#}
{% macro phone_parse_columns(raw_expression, record_country='record_country', default_country='default_country') -%}
    {%- set columns = ['calling_code', 'trunk_prefix', 'national_number_min_length', 'national_number_max_length'] -%}
    {%- set names = ['phone_calling_code', 'phone_trunk_prefix', 'phone_min_length', 'phone_max_length'] -%}
        {{ phone_digits(raw_expression) }} as phone_digits,
        {{ phone_is_international(raw_expression) }} as phone_is_international,
        {{ clean_text(raw_expression) }} is not null as has_phone_value,
    {%- for column in columns %}
        {% if record_country -%}
            coalesce({{ record_country }}.{{ column }}, {{ default_country }}.{{ column }})
        {%- else -%}
            {{ default_country }}.{{ column }}
        {%- endif %} as {{ names[loop.index0] }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}


{% macro e164_from_parsed() -%}
    {{ e164_phone(international_phone_digits(
        'phone_digits', 'phone_is_international', 'phone_calling_code',
        'phone_trunk_prefix', 'phone_min_length', 'phone_max_length'
    )) }}
{%- endmacro %}


{#- The default-country row of `country_codes` (the model passes ref('country_calling_codes')),
    for a cross join. -#}
{% macro default_phone_country(country_codes) -%}
    (
        select * from {{ country_codes }}
        where country_code = '{{ var("default_phone_country") }}'
    )
{%- endmacro %}


{#- A phone written without its country code: no "+" and no "00" international prefix. Only a
    country says which number it is. -#}
{% macro phone_is_national(digits, is_international) -%}
    (not {{ is_international }} and {{ digits }} not like '00%')
{%- endmacro %}


{#- The E.164 reading of national digits in one country (`country`: the alias of a
    country_calling_codes row), or null when they cannot be a number there. -#}
{% macro phone_in_country(digits, country) -%}
    {{ e164_phone(international_phone_digits(
        digits, 'false', country ~ '.calling_code', country ~ '.trunk_prefix',
        country ~ '.national_number_min_length', country ~ '.national_number_max_length'
    )) }}
{%- endmacro %}


{#- One row per row of `phones` (a relation, CTE or parenthesized query) and country of
    `country_codes` (the model passes ref('country_calling_codes')) in which its national digits
    (`digits_column`) read as a number: the `columns` of `phones`, the country_code, and the
    number's identifier_key, hashed like every phone identifier. -#}
{% macro national_phone_candidates(phones, country_codes, digits_column, columns=[]) -%}
    select
        {%- for column in columns %}
        readings.{{ column }},
        {%- endfor %}
        readings.country_code,
        {{ identifier_key("'phone'", 'readings.e164_phone') }} as identifier_key
    from (
        select
            {%- for column in columns %}
            national_phones.{{ column }},
            {%- endfor %}
            countries.country_code,
            {{ phone_in_country('national_phones.' ~ digits_column, 'countries') }} as e164_phone
        from {{ phones }} as national_phones
        cross join {{ country_codes }} as countries
        where national_phones.{{ digits_column }} is not null
    ) as readings
    where readings.e164_phone is not null
{%- endmacro %}
