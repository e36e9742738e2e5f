with

orders as (
    select * from {{ ref('base_shop__orders') }}
    where _disposition = 'staged'
),

final as (
    select
        orders.order_id,
        orders.customer_id,
        {{ unless_erased('orders.email') }} as email,
        orders.status,
        orders.status in ('paid', 'partially_refunded') as is_purchase,
        orders.subtotal,
        orders.discount,
        orders.total,
        orders.refunded_amount,
        orders.total - orders.refunded_amount as net_revenue,
        {{ is_erased() }} as is_erased,
        orders.has_invalid_email,
        orders.has_invalid_subtotal,
        orders.has_invalid_discount,
        orders.has_invalid_refunded_amount,
        orders.has_invalid_updated_at,
        orders.ordered_at,
        orders.updated_at,
        orders._landed_file as landed_file
    from orders
    {{ left_join_erased('shop/orders', 'orders.order_id') }}
)

select * from final
