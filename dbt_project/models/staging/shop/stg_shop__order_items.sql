{#
    One row per order line (order_item_id). Order lines carry no personal data, so erasure
    has nothing to rewrite here. Incremental (docs/adr/0002): the skeleton is
    macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'shop/order_items',
    ref('base_shop__order_items'),
    columns=[
        'order_item_id', 'order_id', 'line_number', 'sku', 'product_name', 'category', 'quantity',
        'unit_price', 'line_total',
    ],
    derived={
        'line_total': 'staged.quantity * staged.unit_price',
    },
) }}
