{{
    config(
        affected_keys='affected_customers_as_of',
        as_of_windows={'orders': [0]},
    )
}}

{#-
    Orders placed up to as_of, attributed to the customer identity resolution gave them.
    Incremental over the affected customers (macros/as_of_windows.sql): every order of a
    customer is rewritten when the customer is.
-#}
{%- set inputs = model_inputs(
    ref('int_identity__identifier_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__record_customers'),
    ref('stg_shop__orders')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where
        record_source = 'shop/orders'
    {% if is_incremental() %}
        and customer_id in (select affected.customer_id from affected)
    {% endif %}
),

orders as (
    select * from {{ ref('stg_shop__orders') }}
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
        orders.discount > 0 as has_discount,
        {{ run_stamp() }} as changed_at
    from orders
    inner join record_customers on orders.order_id = record_customers.record_key
    where {{ as_of_cut('orders', 'orders.ordered_at') }}
)

select * from final
