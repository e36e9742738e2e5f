{#-
    The churn model's training set, a time split inside the customers' own history: features
    as of the cutoff (as_of - churn_window_days) for everyone who had purchased by then, and
    the label purchased_in_window = they purchased again in the churn_window_days after it.
-#}
{%- set customer_orders = ref('int_traits__customer_orders') -%}
with

features as (
    {{ churn_features(customer_orders, ref('int_segments__customer_events'), churn_cutoff()) }}
),

later_purchases as (
    select distinct customer_id
    from {{ customer_orders }}
    where is_purchase and ordered_at > {{ churn_cutoff() }} and ordered_at <= {{ as_of() }}
),

final as (
    select
        features.*,
        later_purchases.customer_id is not null as purchased_in_window
    from features
    left join later_purchases on features.customer_id = later_purchases.customer_id
)

select * from final
