{{
    config(
        materialized='incremental',
        unique_key='order_id',
    )
}}

{#
    Incremental (docs/adr/0002): only landing files not read before. A new version of an order
    (a refund, a status change) competes with the version already staged by updated_at, then
    by file, exactly as in a full build, so a late stale version never wins; rows of people
    erased since they were staged are rewritten masked.
#}
with

landed_orders as (
    select * from {{ ref('base_shop__orders') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'shop/orders'
    ),
{% endif %}

candidates as (
    select
        order_id,
        customer_id,
        email,
        ordered_at,
        status,
        subtotal,
        discount,
        total,
        refunded_amount,
        updated_at,
        has_invalid_email,
        has_invalid_subtotal,
        has_invalid_discount,
        has_invalid_refunded_amount,
        has_invalid_updated_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_orders

    {% if is_incremental() %}
        union all

        select
            order_id,
            customer_id,
            email,
            ordered_at,
            status,
            subtotal,
            discount,
            total,
            refunded_amount,
            updated_at,
            has_invalid_email,
            has_invalid_subtotal,
            has_invalid_discount,
            has_invalid_refunded_amount,
            has_invalid_updated_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            order_id in (select landed_orders.order_id from landed_orders)
            or (
                not is_erased
                and order_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'order_id', 'updated_at') }},

orders as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        orders.order_id,
        {{ unless_erased('orders.customer_id') }} as customer_id,
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
    {{ left_join_erased(ref('int_privacy__erased_records'), 'shop/orders', 'orders.order_id') }}
)

select * from final
