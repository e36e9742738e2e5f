{#-
    Snapshots stamp history with the `as_of` time the run computes traits at, not the wall
    clock, so segment entries and exits line up with the data (and a run pinned to an as_of
    is reproducible). With as_of unset this is the run's start, as before.
-#}
{% macro duckdb__snapshot_get_time() -%}
    {{ as_of() }}
{%- endmacro %}

{% macro default__snapshot_get_time() -%}
    {{ as_of() }}
{%- endmacro %}
