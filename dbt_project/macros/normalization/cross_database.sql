{#
    Engine-specific SQL lives only here, behind adapter.dispatch, so that every model stays
    portable. Each macro has a default (ANSI-ish / Spark-compatible) and a DuckDB variant, and
    a Spark variant where Spark needs its own (backslashes in string literals).
#}

{% macro regexp_replace_all(expression, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'cdp')(expression, pattern, replacement)) }}
{%- endmacro %}

{% macro default__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{#- Spark string literals treat a backslash as an escape: double it so the regex sees it. -#}
{% macro spark__regexp_replace_all(expression, pattern, replacement) -%}
    regexp_replace({{ expression }}, '{{ pattern | replace("\\", "\\\\") }}', '{{ replacement | replace("\\", "\\\\") }}')
{%- endmacro %}


{% macro regexp_like(expression, pattern) -%}
    {{ return(adapter.dispatch('regexp_like', 'cdp')(expression, pattern)) }}
{%- endmacro %}

{#- The whole value must match (rlike alone finds the pattern anywhere in it). -#}
{% macro default__regexp_like(expression, pattern) -%}
    ({{ expression }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}

{% macro spark__regexp_like(expression, pattern) -%}
    ({{ expression }} rlike '^(?:{{ pattern | replace("\\", "\\\\") }})$')
{%- endmacro %}

{% macro duckdb__regexp_like(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}


{#- Parse ISO 8601 text to a UTC timestamp without time zone; null when unparseable. Models
    call parse_timestamp_utc (macros/normalization/values.sql), which adds day-first dates and
    the plausibility window. -#}
{% macro parse_iso_timestamp_utc(expression) -%}
    {{ return(adapter.dispatch('parse_iso_timestamp_utc', 'cdp')(expression)) }}
{%- endmacro %}

{% macro default__parse_iso_timestamp_utc(expression) -%}
    try_to_timestamp(nullif(trim({{ expression }}), ''))
{%- endmacro %}

{% macro duckdb__parse_iso_timestamp_utc(expression) -%}
    cast(try_cast(nullif(trim({{ expression }}), '') as timestamptz) as timestamp)
{%- endmacro %}


{#- The text of capture group `group` of the first match of `pattern`, '' when none. -#}
{% macro regexp_extract_group(expression, pattern, group) -%}
    {{ return(adapter.dispatch('regexp_extract_group', 'cdp')(expression, pattern, group)) }}
{%- endmacro %}

{% macro default__regexp_extract_group(expression, pattern, group) -%}
    coalesce(regexp_extract({{ expression }}, '{{ pattern }}', {{ group }}), '')
{%- endmacro %}

{% macro spark__regexp_extract_group(expression, pattern, group) -%}
    coalesce(regexp_extract({{ expression }}, '{{ pattern | replace("\\", "\\\\") }}', {{ group }}), '')
{%- endmacro %}


{% macro is_json_object(expression) -%}
    {{ return(adapter.dispatch('is_json_object', 'cdp')(expression)) }}
{%- endmacro %}

{% macro default__is_json_object(expression) -%}
    (from_json({{ expression }}, 'map<string,string>') is not null)
{%- endmacro %}

{% macro duckdb__is_json_object(expression) -%}
    coalesce(json_valid({{ expression }}) and left(trim({{ expression }}), 1) = '{', false)
{%- endmacro %}


{#- A stable text key for an identifier: the same on every engine and every run. -#}
{% macro identifier_key(identifier_type, identifier_value) -%}
    {{ dbt.hash(dbt.concat([identifier_type, "':'", identifier_value])) }}
{%- endmacro %}


{#- Cast text to a type, null when it does not parse (dbt.safe_cast is a plain cast on some adapters). -#}
{% macro try_cast_text(expression, data_type) -%}
    {{ return(adapter.dispatch('try_cast_text', 'cdp')(expression, data_type)) }}
{%- endmacro %}

{% macro default__try_cast_text(expression, data_type) -%}
    try_cast({{ expression }} as {{ data_type }})
{%- endmacro %}

{% macro bigquery__try_cast_text(expression, data_type) -%}
    safe_cast({{ expression }} as {{ data_type }})
{%- endmacro %}


{#- A graph node id for an identifier key (md5 hex): its first 15 hex digits as an integer. -#}
{% macro identifier_node_id(identifier_key) -%}
    {{ return(adapter.dispatch('identifier_node_id', 'cdp')(identifier_key)) }}
{%- endmacro %}

{% macro default__identifier_node_id(identifier_key) -%}
    cast(conv(substr({{ identifier_key }}, 1, 15), 16, 10) as {{ dbt.type_bigint() }})
{%- endmacro %}

{% macro duckdb__identifier_node_id(identifier_key) -%}
    cast('0x' || substr({{ identifier_key }}, 1, 15) as {{ dbt.type_bigint() }})
{%- endmacro %}


{#- An aggregate: the distinct values of a text expression over a group, sorted and joined
    with ", " (the same text on every engine). -#}
{% macro sorted_text_list(expression) -%}
    {{ return(adapter.dispatch('sorted_text_list', 'cdp')(expression)) }}
{%- endmacro %}

{% macro default__sorted_text_list(expression) -%}
    array_join(array_sort(collect_set({{ expression }})), ', ')
{%- endmacro %}

{% macro duckdb__sorted_text_list(expression) -%}
    string_agg(distinct {{ expression }}, ', ' order by {{ expression }})
{%- endmacro %}
