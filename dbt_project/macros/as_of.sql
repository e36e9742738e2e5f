{#- The reference time traits are computed at: the `as_of` var, else the run's start (UTC). -#}
{% macro as_of() -%}
    {%- set value = var('as_of', '') | string | trim -%}
    {%- if value in ('', 'None', 'none') -%}
        {%- set value = run_started_at.strftime('%Y-%m-%d %H:%M:%S') -%}
    {%- endif -%}
    cast('{{ value }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}


{#- Whole days from `earlier` to `later` (both timestamps). -#}
{% macro days_between(earlier, later) -%}
    cast({{ dbt.datediff(earlier, later, 'day') }} as {{ dbt.type_bigint() }})
{%- endmacro %}
