{#
    Incremental staging (docs/adr/0002). New landing data arrives as new files, so an
    incremental model reads only the files it has not read before. The watermark is the set of
    files already in the model's table, not the largest file name or event time: file names
    need not sort in load order, and events arrive late.

    The list is read when the model runs and written into the SQL as literals, so the engine can
    skip the files it names without opening them (DuckDB prunes files on a filter over the
    `filename` column). A file none of whose rows were staged (all duplicates or quarantined)
    is not in the table and is read again next time; its rows lose to the same staged rows
    again, so that costs time, never correctness.
#}
{% macro landed_file_is_new(file_column) -%}
    {%- set files = [] -%}
    {%- if execute and is_incremental() -%}
        {%- set seen = run_query('select distinct landed_file from ' ~ this) -%}
        {%- set files = seen.columns[0].values() | list -%}
    {%- endif -%}
    {%- if files | length > 0 -%}
        {{ file_column }} not in (
        {%- for file in files -%}
            '{{ file | replace("'", "''") }}'{{ ', ' if not loop.last }}
        {%- endfor -%}
        )
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}
