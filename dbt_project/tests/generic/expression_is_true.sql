{#- Fails for every row where `expression` is not true (nulls count as not true). -#}
{% test expression_is_true(model, expression) %}
    select *
    from {{ model }}
    where not coalesce({{ expression }}, false)
{% endtest %}
