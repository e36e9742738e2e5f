{#
    The landing files as relations the sources can name. DuckDB reads them where they are
    (the sources' `external_location`: read_csv / read_parquet), so there is nothing to do.
    Spark gets, for every source with an external_location, an external table over the same
    files (CSV: header, every column as text, quotes escaped by doubling, quoted newlines;
    Parquet: schemas merged by name) and a view `<source>.<table>` over it that adds the file
    each row came from as `filename`, like DuckDB's read_csv(filename = true). Both are
    metadata only: dropping them never touches the files. Called from on-run-start.
#}
{% macro create_landing_relations() -%}
    {{ return(adapter.dispatch('create_landing_relations', 'cdp')()) }}
{%- endmacro %}

{% macro default__create_landing_relations() -%}
    {{ return('') }}
{%- endmacro %}

{% macro spark__create_landing_relations() -%}
    {%- if execute -%}
        {%- set raw_dir = env_var('CDP_RAW_DIR', '../seeds') | replace("'", "") -%}
        {%- set landing_format = env_var('CDP_LANDING_FORMAT', 'csv') -%}
        {%- for node in graph.sources.values()
            if node.package_name == project_name and node.config.get('external_location') -%}
            {%- set files_table = node.schema ~ '.' ~ node.identifier ~ '__landed_files' -%}
            {%- set path = raw_dir ~ '/' ~ node.schema ~ '/' ~ node.identifier ~ '/*.' ~ landing_format -%}
            {%- do run_query('create schema if not exists ' ~ node.schema) -%}
            {%- do run_query('drop view if exists ' ~ node.schema ~ '.' ~ node.identifier) -%}
            {%- do run_query('drop table if exists ' ~ files_table) -%}
            {%- if landing_format == 'parquet' -%}
                {%- do run_query(
                    "create table " ~ files_table ~ " using parquet options ("
                    ~ "path '" ~ path ~ "', mergeSchema 'true')"
                ) -%}
            {%- else -%}
                {%- do run_query(
                    "create table " ~ files_table ~ " using csv options ("
                    ~ "path '" ~ path ~ "', header 'true', inferSchema 'false', "
                    ~ "quote '\"', escape '\"', multiLine 'true', mode 'PERMISSIVE')"
                ) -%}
            {%- endif -%}
            {%- do run_query(
                "create view " ~ node.schema ~ "." ~ node.identifier ~ " as select *, "
                ~ "regexp_replace(_metadata.file_path, '^file:(//)?', '') as filename from "
                ~ files_table
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}
