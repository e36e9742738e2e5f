{#
    Snapshots on Spark tables without MERGE (plain Parquet). dbt-spark accepts snapshots only on
    Delta, Iceberg or Hudi tables, because it applies the changes with MERGE INTO. This
    materialization is dbt-spark's, minus that check; on a Parquet table the merge is done by
    rewriting the table (the same rows MERGE would leave):

        existing rows, with exited rows' valid_to set from the staged updates and deletes
        + the staged inserts whose scd id is new

    written to a work table first (Spark cannot overwrite a table it reads), then copied over
    the target. Delta, Iceberg and Hudi tables still get dbt-spark's MERGE.
#}
{% macro spark__snapshot_merge_sql(target, source, insert_cols) -%}
    {%- if target.is_delta or target.is_iceberg or target.is_hudi -%}
        {{ return(dbt.spark__snapshot_merge_sql(target, source, insert_cols)) }}
    {%- endif -%}
    {%- set names = config.get("snapshot_table_column_names") or get_snapshot_table_column_names() -%}
    {%- set target_columns = adapter.get_columns_in_relation(target) -%}
    {%- set work = target.incorporate(path={'identifier': target.identifier ~ '__dbt_merged'}) -%}
    {%- set is_current -%}
        {%- if config.get('dbt_valid_to_current') -%}
            (kept.{{ names.dbt_valid_to }} = {{ config.get('dbt_valid_to_current') }} or kept.{{ names.dbt_valid_to }} is null)
        {%- else -%}
            kept.{{ names.dbt_valid_to }} is null
        {%- endif -%}
    {%- endset -%}
    {%- set kept_columns = [] -%}
    {%- set inserted_columns = [] -%}
    {%- for column in target_columns -%}
        {%- if column.name | lower == names.dbt_valid_to | lower -%}
            {%- do kept_columns.append(
                'case when changes.' ~ names.dbt_scd_id ~ ' is not null then changes.'
                ~ names.dbt_valid_to ~ ' else kept.' ~ column.quoted ~ ' end as ' ~ column.quoted
            ) -%}
        {%- else -%}
            {%- do kept_columns.append('kept.' ~ column.quoted) -%}
        {%- endif -%}
        {%- do inserted_columns.append('staged.' ~ column.quoted) -%}
    {%- endfor -%}
    {%- set merged -%}
        select {{ kept_columns | join(', ') }}
        from {{ target }} as kept
        left join (
            select * from {{ source }} where dbt_change_type in ('update', 'delete')
        ) as changes
            on changes.{{ names.dbt_scd_id }} = kept.{{ names.dbt_scd_id }} and {{ is_current }}
        union all
        select {{ inserted_columns | join(', ') }}
        from {{ source }} as staged
        where
            staged.dbt_change_type = 'insert'
            and not exists (
                select 1 from {{ target }} as existing
                where existing.{{ names.dbt_scd_id }} = staged.{{ names.dbt_scd_id }}
            )
    {%- endset -%}
    {%- do run_query('drop table if exists ' ~ work) -%}
    {%- do run_query(create_table_as(False, work, merged)) -%}
    {%- do run_query('insert overwrite table ' ~ target ~ ' select * from ' ~ work) -%}
    drop table if exists {{ work }}
{%- endmacro %}


{% materialization snapshot, adapter='spark' %}
    {%- set target_table = model.get('alias', model.get('name')) -%}
    {%- set strategy_name = config.get('strategy') -%}
    {%- set grant_config = config.get('grants') -%}

    {% set target_relation_exists, target_relation = get_or_create_relation(
        database=none, schema=model.schema, identifier=target_table, type='table'
    ) -%}

    {% if not adapter.check_schema_exists(model.database, model.schema) %}
        {% do create_schema(model.schema) %}
    {% endif %}

    {%- if not target_relation.is_table -%}
        {% do exceptions.relation_wrong_type(target_relation, 'table') %}
    {%- endif -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {% set strategy_macro = strategy_dispatch(strategy_name) %}
    {% set strategy = strategy_macro(model, "snapshotted_data", "source_data", model['config'], target_relation_exists) %}

    {% if not target_relation_exists %}
        {% set build_sql = build_snapshot_table(strategy, model['compiled_code']) %}
        {% set final_sql = create_table_as(False, target_relation, build_sql) %}
    {% else %}
        {% set columns = config.get("snapshot_table_column_names") or get_snapshot_table_column_names() %}
        {{ adapter.valid_snapshot_target(target_relation, columns) }}
        {% set staging_table = spark_build_snapshot_staging_table(strategy, sql, target_relation) %}
        {% do adapter.expand_target_column_types(from_relation=staging_table, to_relation=target_relation) %}
        {% set missing_columns = adapter.get_missing_columns(staging_table, target_relation)
            | rejectattr('name', 'equalto', 'dbt_change_type')
            | rejectattr('name', 'equalto', 'DBT_CHANGE_TYPE')
            | rejectattr('name', 'equalto', 'dbt_unique_key')
            | rejectattr('name', 'equalto', 'DBT_UNIQUE_KEY')
            | list %}
        {% do create_columns(target_relation, missing_columns) %}
        {% set source_columns = adapter.get_columns_in_relation(staging_table)
            | rejectattr('name', 'equalto', 'dbt_change_type')
            | rejectattr('name', 'equalto', 'DBT_CHANGE_TYPE')
            | rejectattr('name', 'equalto', 'dbt_unique_key')
            | rejectattr('name', 'equalto', 'DBT_UNIQUE_KEY')
            | list %}
        {% set quoted_source_columns = [] %}
        {% for column in source_columns %}
            {% do quoted_source_columns.append(adapter.quote(column.name)) %}
        {% endfor %}
        {% set final_sql = snapshot_merge_sql(
            target=target_relation, source=staging_table, insert_cols=quoted_source_columns
        ) %}
    {% endif %}

    {% call statement('main') %}
        {{ final_sql }}
    {% endcall %}

    {% set should_revoke = should_revoke(target_relation_exists, full_refresh_mode) %}
    {% do apply_grants(target_relation, grant_config, should_revoke) %}
    {% do persist_docs(target_relation, model) %}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}

    {% if staging_table is defined %}
        {% do post_snapshot(staging_table) %}
    {% endif %}

    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
