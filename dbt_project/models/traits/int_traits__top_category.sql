{#- The product category a customer spent most on (purchases up to as_of; ties by name). -#}
with

purchases as (
    select * from {{ ref('int_traits__customer_orders') }}
    where is_purchase
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
        category as top_category
    from ranked
    where category_rank = 1
)

select * from final
