{#
    The landing data as relations the sources can name. The landing intake (cdp/intake.py)
    has written every landed file's accepted rows as all-text Parquet, with `_landed_file`,
    under CDP_LANDING_INTAKE_DIR/data/<source>/<table>/. DuckDB reads them where they are (the
    sources' `external_location`: read_parquet), so there is nothing to do. Spark gets, for
    every source with an external_location, an external Parquet table over the same folder
    (schemas merged by name) and a view `<source>.<table>` over it. Both are metadata only:
    dropping them never touches the files. Called from on-run-start.
#}
{% macro create_landing_relations() -%}
    {{ return(adapter.dispatch('create_landing_relations', 'cdp')()) }}
{%- endmacro %}

{% macro default__create_landing_relations() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__create_landing_relations() -%}
    {%- if execute -%}
        {%- set intake_dir = env_var('CDP_LANDING_INTAKE_DIR', '../warehouse/cdp.landing') | replace("'", "") -%}
        {%- for node in graph.sources.values()
            if node.package_name == project_name and node.config.get('external_location') -%}
            {%- set files_table = node.schema ~ '.' ~ node.identifier ~ '__landed_files' -%}
            {%- set path = intake_dir ~ '/data/' ~ node.schema ~ '/' ~ node.identifier ~ '/*.parquet' -%}
            {%- do run_query('create schema if not exists ' ~ node.schema) -%}
            {%- do run_query('drop view if exists ' ~ node.schema ~ '.' ~ node.identifier) -%}
            {%- do run_query('drop table if exists ' ~ files_table) -%}
            {%- do run_query(
                "create table " ~ files_table ~ " using parquet options ("
                ~ "path '" ~ path ~ "', mergeSchema 'true')"
            ) -%}
            {%- do run_query(
                "create view " ~ node.schema ~ "." ~ node.identifier ~ " as select * from "
                ~ files_table
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
