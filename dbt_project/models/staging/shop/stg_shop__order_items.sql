{{
    config(
        materialized='incremental',
        unique_key='order_item_id',
    )
}}

{#
    Incremental (docs/adr/0002): only landing files not read before, ranked against the line
    already staged for the same order_item_id. Order lines carry no personal data, so erasure
    has nothing to rewrite here.
#}
with

landed_order_items as (
    select * from {{ ref('base_shop__order_items') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),
{% endif %}

candidates as (
    select
        order_item_id,
        order_id,
        line_number,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_order_items

    {% if is_incremental() %}
        union all

        select
            order_item_id,
            order_id,
            line_number,
            sku,
            product_name,
            category,
            quantity,
            unit_price,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where order_item_id in (select landed_order_items.order_item_id from landed_order_items)
    {% endif %}
),

{{ landing_dispositions('candidates', 'order_item_id') }},

order_items as (
    select * from with_dispositions
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
