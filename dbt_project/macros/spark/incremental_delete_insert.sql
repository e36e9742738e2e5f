{#
    The `delete+insert` incremental strategy on Spark tables without MERGE (plain Parquet; no
    Delta or Iceberg needed). dbt-spark offers append, insert_overwrite and merge (Delta,
    Iceberg, Hudi only); these two overrides of its macros add delete+insert, so the
    incremental models keep one config on every engine.

    Spark cannot overwrite a table while reading it, so the new content is written to a work
    table first: the existing rows whose key the new batch does not carry, plus the new batch.
    The target is then overwritten from it, and the work table dropped. Not atomic (Spark
    tables have no transactions), but a failed run leaves the target either untouched or
    complete, and the next run redoes the work.
#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) %}
    {%- if raw_strategy == 'delete+insert' -%}
        {% do return(raw_strategy) %}
    {%- endif -%}
    {% do return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) %}
{% endmacro %}


{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) %}
    {%- if strategy != 'delete+insert' -%}
        {{ return(dbt.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates)) }}
    {%- endif -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- set columns = adapter.get_columns_in_relation(target) | map(attribute='quoted') | join(', ') -%}
    {%- set work = target.incorporate(path={'identifier': target.identifier ~ '__dbt_merged'}) -%}
    {%- set key_match = [] -%}
    {%- for key in keys -%}
        {%- do key_match.append('batch.' ~ key ~ ' = kept.' ~ key) -%}
    {%- endfor -%}
    {%- do run_query('drop table if exists ' ~ work) -%}
    {%- do run_query(create_table_as(False, work,
        'select ' ~ columns ~ ' from ' ~ target ~ ' as kept'
        ~ ' where not exists (select 1 from ' ~ source ~ ' as batch where '
        ~ key_match | join(' and ') ~ ')'
        ~ ' union all select ' ~ columns ~ ' from ' ~ source
    )) -%}
    {%- do run_query('insert overwrite table ' ~ target ~ ' select ' ~ columns ~ ' from ' ~ work) -%}
    drop table if exists {{ work }}
{% endmacro %}
