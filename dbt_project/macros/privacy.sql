{#
    Erasure in staging: the staging skeleton (macros/landing/staging.sql) joins the records to
    mask with left_join_erased(<the erased records relation it is handed>, ...) and wraps each
    personal field in unless_erased(); the row itself stays (orders still count for revenue), without anything
    that identifies the person.
#}
{% macro left_join_erased(erased_records, record_source, key_expression) -%}
    left join (
        select record_key from {{ erased_records }}
        where record_source = '{{ record_source }}'
    ) as erased
        on {{ key_expression }} = erased.record_key
{%- endmacro %}


{% macro unless_erased(column) -%}
    case when erased.record_key is null then {{ column }} end
{%- endmacro %}


{% macro is_erased() -%}
    (erased.record_key is not null)
{%- endmacro %}
