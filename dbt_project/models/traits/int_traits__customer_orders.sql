{#- Orders placed up to as_of, attributed to the customer identity resolution gave them. -#}
with

orders as (
    select * from {{ ref('stg_shop__orders') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where record_source = 'shop/orders'
),

final as (
    select
        record_customers.customer_id,
        orders.order_id,
        orders.ordered_at,
        orders.status,
        orders.is_purchase,
        orders.subtotal,
        orders.discount,
        orders.total,
        orders.refunded_amount,
        orders.net_revenue,
        orders.discount > 0 as has_discount
    from orders
    inner join record_customers on orders.order_id = record_customers.record_key
    where orders.ordered_at <= {{ as_of() }}
)

select * from final
