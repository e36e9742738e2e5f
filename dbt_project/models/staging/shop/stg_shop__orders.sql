{#
    One row per order: its latest version (a refund, a status change) by updated_at, then
    by file, so a late stale version never wins. Incremental (docs/adr/0002): the skeleton is
    macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'shop/orders',
    ref('base_shop__orders'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'order_id', 'customer_id', 'email', 'status', 'is_purchase', 'subtotal', 'discount',
        'total', 'refunded_amount', 'net_revenue', 'is_erased', 'has_invalid_email',
        'has_invalid_subtotal', 'has_invalid_discount', 'has_invalid_refunded_amount',
        'has_invalid_updated_at', 'ordered_at', 'updated_at',
    ],
    erasable=[
        'customer_id', 'email',
    ],
    derived={
        'is_purchase': "staged.status in ('paid', 'partially_refunded')",
        'net_revenue': 'staged.total - staged.refunded_amount',
    },
) }}
