{#
    Models land in the schema their folder names (staging, identity, core, ...) rather than
    "<target schema>_<folder>", so the warehouse reads the same on every target.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
