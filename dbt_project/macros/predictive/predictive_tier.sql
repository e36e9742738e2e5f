{#- top / middle / bottom from a percent rank: the highest 20%, the lowest 20%, the rest. -#}
{% macro predictive_tier(percent_rank_expression) -%}
    case
        when {{ percent_rank_expression }} >= 0.8 then 'top'
        when {{ percent_rank_expression }} < 0.2 then 'bottom'
        else 'middle'
    end
{%- endmacro %}
