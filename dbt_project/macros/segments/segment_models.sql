{#- Every segment model. A test checks this list against the seg_*.sql files. -#}
{% macro segment_models() -%}
    {{ return([
        'seg_big_spenders',
        'seg_browsers_not_buying',
        'seg_cart_abandoners',
        'seg_champions',
        'seg_discount_sensitive',
        'seg_engaged_non_buyers',
        'seg_high_value_at_risk',
        'seg_lapsed_win_back',
        'seg_new_customers',
        'seg_predicted_high_value',
        'seg_support_heavy',
        'seg_valuable_at_risk_of_churn',
    ]) }}
{%- endmacro %}
