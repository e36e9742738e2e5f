{#-
    Floating-point addition is not associative: a sum of doubles changes in its last digits with
    the order the rows are added in, and a parallel aggregation adds them in a different order on
    every run. A trait summed that way differs between two builds of the same data.

    exact_sum(expression) rounds each row's value to 6 decimal places (dbt.type_numeric(),
    numeric(28, 6) on DuckDB, decimal(28, 6) on Spark) and adds the rounded values in decimal
    arithmetic, which is exact and so independent of the order; the total is returned as a double.
    Use it for every sum of a floating-point expression in a model whose output must be
    reproducible.
-#}
{% macro exact_sum(expression) -%}
    cast(sum(cast({{ expression }} as {{ dbt.type_numeric() }})) as double)
{%- endmacro %}
