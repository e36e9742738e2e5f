{{
    config(
        changes_from=['int_traits__customer_orders'],
    )
}}

{#-
    The product category a customer spent most on (purchases up to as_of; ties by name).
    Incremental over the affected customers (macros/as_of_windows.sql).
-#}
{%- set inputs = model_inputs(
    ref('int_identity__record_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__identifier_customers'),
    ref('int_traits__customer_orders')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

purchases as (
    select * from {{ ref('int_traits__customer_orders') }}
    where
        is_purchase
    {% if is_incremental() %}
        and customer_id in (select affected.customer_id from affected)
    {% endif %}
),

order_items as (
    select * from {{ ref('stg_shop__order_items') }}
),

category_spend as (
    select
        purchases.customer_id,
        order_items.category,
        sum(order_items.line_total) as category_revenue
    from purchases
    inner join order_items on purchases.order_id = order_items.order_id
    where order_items.category is not null
    group by purchases.customer_id, order_items.category
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id order by category_revenue desc, category asc
        ) as category_rank
    from category_spend
),

final as (
    select
        customer_id,
        category as top_category,
        {{ run_stamp() }} as changed_at
    from ranked
    where category_rank = 1
)

select * from final
