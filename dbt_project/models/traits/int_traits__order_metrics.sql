{{
    config(
        changes_from=['int_traits__customer_orders'],
        as_of_windows={'orders': [90, 365]},
        as_of_day_counts=true,
    )
}}

{#-
    Order value and frequency per customer as of as_of. A purchase is an order with status
    paid or partially_refunded; revenue is total - refunded_amount over purchases.
    Incremental over the affected customers (macros/as_of_windows.sql).
-#}
{%- set inputs = model_inputs(
    ref('int_identity__record_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__identifier_customers'),
    ref('stg_shop__orders'),
    ref('int_traits__customer_orders')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

customer_orders as (
    select * from {{ ref('int_traits__customer_orders') }}
    {% if is_incremental() %}
        where customer_id in (select affected.customer_id from affected)
    {% endif %}
),

purchases as (
    select * from customer_orders
    where is_purchase
),

purchase_metrics as (
    select
        customer_id,
        count(*) as orders_count,
        sum(net_revenue) as lifetime_revenue,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(case when has_discount then 1 end) as discounted_orders_count,
        count(
            case when {{ as_of_window('orders', 'ordered_at', 90) }} then 1 end
        ) as orders_last_90_days,
        sum(
            case when {{ as_of_window('orders', 'ordered_at', 365) }} then net_revenue end
        ) as revenue_last_365_days
    from purchases
    group by customer_id
),

all_orders as (
    select
        customer_id,
        count(*) as orders_placed_count,
        count(case when status in ('refunded', 'partially_refunded') then 1 end)
            as refunded_orders_count,
        count(case when status = 'cancelled' then 1 end) as cancelled_orders_count
    from customer_orders
    group by customer_id
),

final as (
    select
        all_orders.customer_id,
        coalesce(purchase_metrics.orders_count, 0) as orders_count,
        coalesce(purchase_metrics.lifetime_revenue, 0) as lifetime_revenue,
        -- divisions in double precision, the same value on every engine
        cast(purchase_metrics.lifetime_revenue as double) / purchase_metrics.orders_count
            as avg_order_value,
        purchase_metrics.first_order_at,
        purchase_metrics.last_order_at,
        {{ days_before_as_of('purchase_metrics.last_order_at') }} as days_since_last_order, -- noqa: LT05
        {{ days_before_as_of('purchase_metrics.first_order_at') }} as days_since_first_order, -- noqa: LT05
        coalesce(purchase_metrics.orders_last_90_days, 0) as orders_last_90_days,
        coalesce(purchase_metrics.revenue_last_365_days, 0) as revenue_last_365_days,
        coalesce(purchase_metrics.discounted_orders_count, 0) as discounted_orders_count,
        coalesce(
            cast(purchase_metrics.discounted_orders_count as double) / purchase_metrics.orders_count,
            0
        ) as discounted_orders_share,
        all_orders.orders_placed_count,
        all_orders.refunded_orders_count,
        all_orders.cancelled_orders_count,
        {{ run_stamp() }} as changed_at
    from all_orders
    left join purchase_metrics on all_orders.customer_id = purchase_metrics.customer_id
)

select * from final
