{#-
    A predictive model's result table (customer_churn, customer_clv, customer_clusters).
    On DuckDB these are dbt Python models that dbt-duckdb runs in the build, so this is a ref().
    dbt-spark runs Python models only on Databricks, so on Spark the models are disabled and
    `cdp predict` trains and scores with the same code through the Spark session, writing the
    same tables (the `predictive` source); see cdp/predictive/warehouse.py.
-#}
{% macro predictive_table(model_name) -%}
    {{ return(adapter.dispatch('predictive_table', 'cdp')(model_name)) }}
{%- endmacro %}

{% macro default__predictive_table(model_name) -%}
    {{ return(ref(model_name)) }}
{%- endmacro %}

{% macro spark__predictive_table(model_name) -%}
    {{ return(source('predictive', model_name)) }}
{%- endmacro %}
