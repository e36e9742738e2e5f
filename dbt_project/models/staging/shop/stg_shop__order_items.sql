with

order_items as (
    select * from {{ ref('base_shop__order_items') }}
    where _disposition = 'staged'
),

final as (
    select
        order_item_id,
        order_id,
        line_number,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        quantity * unit_price as line_total,
        _landed_file as landed_file
    from order_items
)

select * from final
