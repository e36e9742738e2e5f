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


{#- Trim (also no-break and zero-width spaces) + lowercase; null unless it looks like
    local@domain.tld. Internationalized addresses are accepted: letters and digits of any
    script in the local part and the domain ("jürgen.müller@bücher.de"), and punycode
    top-level domains ("xn--p1ai"). No provider-specific rewriting. -#}
{% macro email_text(expression) -%}
    lower({{ regexp_replace_all(expression, '^[\\s\\p{Z}\\x{200B}\\x{FEFF}]+|[\\s\\p{Z}\\x{200B}\\x{FEFF}]+$', '') }})
{%- endmacro %}


{% macro normalize_email(expression) -%}
    case
        when {{ regexp_like(email_text(expression), "[a-z0-9\\p{L}\\p{N}.!#$%&*+/=?^_{|}~-]+@[a-z0-9\\p{L}\\p{N}]([a-z0-9\\p{L}\\p{N}-]*[a-z0-9\\p{L}\\p{N}])?(\\.[a-z0-9\\p{L}\\p{N}]([a-z0-9\\p{L}\\p{N}-]*[a-z0-9\\p{L}\\p{N}])?)*\\.([a-z\\p{L}]{2,}|xn--[a-z0-9-]+)") }}
            then {{ email_text(expression) }}
    end
{%- endmacro %}


{% macro parse_boolean(expression) -%}
    case
        when lower(trim({{ expression }})) in ('true', 't', 'yes', 'y', '1') then true
        when lower(trim({{ expression }})) in ('false', 'f', 'no', 'n', '0') then false
    end
{%- endmacro %}


{#- A plain decimal amount: optional sign, digits, at most `scale` decimal places; thousands
    may be grouped with commas in threes ("1,234.50"). Anything else ("1e3", "12.345" for a
    two-decimal amount, "1.2.3", "12,34.5", "$5") is not an amount: null, and the model flags
    or quarantines the row (amount_problem gives the reason). Amounts keep cents by default;
    unit prices can be finer (e.g. 0.001 per item). -#}
{% macro plain_decimal_pattern(scale=2) -%}
    [+-]?([0-9]+|[0-9]{1,3}(,[0-9]{3})+)([.][0-9]{1,{{ scale }}})?
{%- endmacro %}


{% macro parse_decimal(expression, scale=2) -%}
    case
        when {{ regexp_like(clean_text(expression), plain_decimal_pattern(scale)) }}
            then {{ try_cast_text("replace(" ~ clean_text(expression) ~ ", ',', '')", 'decimal(18, ' ~ scale ~ ')') }}
    end
{%- endmacro %}


{#- Why a non-blank amount is not one (null when it is one, or blank). -#}
{% macro amount_problem(expression, scale=2) -%}
    case
        when {{ clean_text(expression) }} is null then null
        when {{ parse_decimal(expression, scale) }} is not null then null
        when {{ regexp_like(clean_text(expression), '[+-]?[0-9,]*[.][0-9]+') }}
            and not {{ regexp_like(clean_text(expression), '[+-]?[0-9,]*[.][0-9]{1,' ~ scale ~ '}') }}
            then 'more than {{ scale }} decimal places'
        else 'not a plain decimal (sign, digits, optional decimals; no exponent or symbols)'
    end
{%- endmacro %}


{% macro parse_integer(expression) -%}
    {{ try_cast_text(clean_text(expression), dbt.type_int()) }}
{%- endmacro %}


{#- Joins `country_codes` (the model passes ref('country_calling_codes')) as `relation_alias`
    on a country code or English name, so `relation_alias.country_code` is the upper-cased
    ISO 3166 alpha-2 code of `country_expression`, or null. -#}
{% macro join_country(country_codes, relation_alias, country_expression) -%}
    left join {{ country_codes }} as {{ relation_alias }}
        on upper(trim({{ country_expression }})) in (
            upper({{ relation_alias }}.country_code), upper({{ relation_alias }}.country_name)
        )
{%- endmacro %}


{#
    Timestamps. parse_timestamp_utc reads ISO 8601 (any offset, to UTC) and numeric dates
    written day/month/year or month/day/year ("30/06/2025 10:00", "06/30/2025", "1.7.2025",
    "30-06-2025 10:00:05"): a first number over 12 is a day, a second number over 12 is a day;
    when both are 12 or less the order is ambiguous and the `ambiguous_date_order` var decides
    (`day_first`, `month_first`, or empty: unreadable, never a guess). A time outside the
    plausibility window, before `timestamp_earliest` (1900-01-01) or more than
    `timestamp_max_days_after_as_of` (7) days after the later of the as_of and the run's start,
    cannot be true (9999-12-31,
    0001-01-01, year -44): it is null like an unreadable one, so it never wins a version
    ranking or counts as an event time, and the model flags it or quarantines the row
    (timestamp_quarantine_reason says which).
#}

{% macro numeric_date_pattern() -%}
    ^([0-9]{1,2})[./-]([0-9]{1,2})[./-]([0-9]{4})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?$
{%- endmacro %}


{#- The `group`-th number of a numeric date ('' when the text is not one). -#}
{% macro numeric_date_part(trimmed, group) -%}
    {{ regexp_extract_group(trimmed, numeric_date_pattern(), group) }}
{%- endmacro %}


{#- Which group holds the day (1 or 2) of a numeric date, null when it cannot be told. -#}
{% macro numeric_date_day_group(trimmed) -%}
    {%- set first = try_cast_text(numeric_date_part(trimmed, 1), dbt.type_int()) -%}
    {%- set second = try_cast_text(numeric_date_part(trimmed, 2), dbt.type_int()) -%}
    {%- set order = var('ambiguous_date_order', '') | string | trim | lower -%}
    {%- if order not in ('', 'none', 'day_first', 'month_first') -%}
        {{ exceptions.raise_compiler_error("var ambiguous_date_order (CDP_AMBIGUOUS_DATE_ORDER) must be day_first, month_first or empty, not '" ~ order ~ "'") }}
    {%- endif -%}
    case
        when {{ first }} > 12 then 1
        when {{ second }} > 12 then 2
        {% if order == 'day_first' %}else 1{% elif order == 'month_first' %}else 2{% endif %}
    end
{%- endmacro %}


{#- A numeric day/month date as ISO text ('YYYY-MM-DD HH:MM:SS'), null when not one. -#}
{% macro numeric_date_iso_text(trimmed) -%}
    {%- set day_group = numeric_date_day_group(trimmed) -%}
    case
        when ({{ day_group }}) = 1 then {{ numeric_date_parts_iso_text(trimmed, 1, 2) }}
        when ({{ day_group }}) = 2 then {{ numeric_date_parts_iso_text(trimmed, 2, 1) }}
    end
{%- endmacro %}


{% macro two_digits_text(text, default) -%}
    {{ dbt.right(dbt.concat(["'0'", "coalesce(nullif(" ~ text ~ ", ''), '" ~ default ~ "')"]), 2) }}
{%- endmacro %}


{% macro numeric_date_parts_iso_text(trimmed, day_group, month_group) -%}
    {{ dbt.concat([
        numeric_date_part(trimmed, 3), "'-'",
        two_digits_text(numeric_date_part(trimmed, month_group), '0'), "'-'",
        two_digits_text(numeric_date_part(trimmed, day_group), '0'), "' '",
        two_digits_text(numeric_date_part(trimmed, 4), '0'), "':'",
        two_digits_text(numeric_date_part(trimmed, 5), '0'), "':'",
        two_digits_text(numeric_date_part(trimmed, 6), '0'),
    ]) }}
{%- endmacro %}


{#- The trimmed text when it is not ISO 8601, else null: the numeric-date path reads only
    that. The engine's common-subexpression pass computes shared parts of an expression
    for every row, outside the coalesce or case that would skip them, so the day/month
    regular expressions must see null, not the text, on the (usual) ISO rows. -#}
{% macro numeric_date_candidate(expression) -%}
    case when {{ parse_iso_timestamp_utc(expression) }} is null then trim({{ expression }}) end
{%- endmacro %}


{#- ISO 8601 or a numeric day/month date, without the plausibility window. -#}
{% macro parse_timestamp_unchecked(expression) -%}
    coalesce(
        {{ parse_iso_timestamp_utc(expression) }},
        {{ parse_iso_timestamp_utc(numeric_date_iso_text(numeric_date_candidate(expression))) }}
    )
{%- endmacro %}


{#- The plausibility window as two timestamp literals [earliest, latest], fixed at compile time
    from the later of the as_of (var as_of / CDP_AS_OF) and the run's start. -#}
{% macro timestamp_window() -%}
    {%- set value = var('as_of', '') | string | trim -%}
    {%- set started = run_started_at.replace(tzinfo=none) -%}
    {%- if value in ('', 'None', 'none') -%}
        {%- set reference = started -%}
    {%- elif modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?)?$', value) -%}
        {%- set reference = modules.datetime.datetime.fromisoformat(value) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("CDP_AS_OF (var as_of) must be 'YYYY-MM-DD[ HH:MM:SS]', not '" ~ value ~ "'") }}
    {%- endif -%}
    {#- The later of the as_of and the run's start: a build as of an earlier day reads files
        that already hold later rows, and a row staged then must not stay flagged after it. -#}
    {%- if started > reference -%}{%- set reference = started -%}{%- endif -%}
    {%- set days = var('timestamp_max_days_after_as_of', 7) | int -%}
    {%- set latest = reference + modules.datetime.timedelta(days=days) -%}
    {%- set earliest = var('timestamp_earliest', '1900-01-01') | string | trim -%}
    {{ return([
        "cast('" ~ earliest ~ "' as " ~ dbt.type_timestamp() ~ ")",
        "cast('" ~ latest.strftime('%Y-%m-%d %H:%M:%S') ~ "' as " ~ dbt.type_timestamp() ~ ")",
    ]) }}
{%- endmacro %}


{% macro parse_timestamp_utc(expression) -%}
    {%- set window = timestamp_window() -%}
    {%- set parsed = parse_timestamp_unchecked(expression) -%}
    case
        when {{ parsed }} >= {{ window[0] }} and {{ parsed }} <= {{ window[1] }} then {{ parsed }}
    end
{%- endmacro %}


{#- Why parse_timestamp_utc nulled a value (null when it reads it, or it is blank): the
    quarantine reason of a required timestamp. -#}
{% macro timestamp_quarantine_reason(expression, column_name) -%}
    {%- set trimmed = numeric_date_candidate(expression) -%}
    case
        when {{ clean_text(expression) }} is null then 'missing or unreadable {{ column_name }}'
        when {{ parse_timestamp_utc(expression) }} is not null then null
        when {{ parse_timestamp_unchecked(expression) }} is not null
            then 'out-of-range {{ column_name }} (before {{ var("timestamp_earliest", "1900-01-01") }} or more than {{ var("timestamp_max_days_after_as_of", 7) }} days in the future)'
        when {{ numeric_date_part(trimmed, 3) }} <> '' and ({{ numeric_date_day_group(trimmed) }}) is null
            then 'ambiguous day and month in {{ column_name }} (set ambiguous_date_order)'
        else 'missing or unreadable {{ column_name }}'
    end
{%- endmacro %}
