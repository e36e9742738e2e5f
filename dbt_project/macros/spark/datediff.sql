{#
    dbt.datediff on Spark for hour, minute and second, counting boundaries crossed as DuckDB,
    Snowflake and dbt's other adapters do (10:00:50 to 10:01:10 is one minute). dbt-spark
    rounds the elapsed seconds up instead, which moves values sitting near a threshold, such as
    the session gap in int_traits__web_activity. Day and longer parts are dbt-spark's (calendar
    dates, already boundary counts).
#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- set seconds = {'hour': 3600, 'minute': 60, 'second': 1} -%}
    {%- if datepart in seconds -%}
        (
            floor(unix_seconds(cast({{ second_date }} as timestamp)) / {{ seconds[datepart] }})
            - floor(unix_seconds(cast({{ first_date }} as timestamp)) / {{ seconds[datepart] }})
        )
    {%- else -%}
        {{ return(dbt.spark__datediff(first_date, second_date, datepart)) }}
    {%- endif -%}
{%- endmacro %}
