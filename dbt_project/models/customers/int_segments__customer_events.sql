{#-
    Everything a customer did that a segment's event conditions can count, as
    (customer_id, event_name, occurred_at), up to as_of. Event names: the web's track events
    as sent (Page Viewed, Product Viewed, Product Added, Checkout Started, Order Completed,
    Signed Up, ...), Purchase (an order with status paid or partially_refunded), Email Sent,
    Email Delivered, Email Opened, Email Clicked, Email Bounced, Email Unsubscribed,
    Email Marked Spam, and Ticket Created. Incremental over the affected customers
    (macros/as_of_windows.sql): every event of a customer is rewritten when the customer is.
-#}
{{
    config(
        schema='segments',
        affected_keys='affected_customers_as_of',
        changes_from=['int_traits__customer_orders'],
        as_of_windows={'tracks': [0], 'email_events': [0], 'tickets': [0]},
    )
}}

{%- set inputs = model_inputs(
    ref('int_identity__identifier_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__record_customers'),
    ref('int_traits__customer_orders'),
    ref('stg_events__tracks'),
    ref('stg_email__events'),
    ref('stg_support__tickets')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    {% if is_incremental() %}
        where customer_id in (select affected.customer_id from affected)
    {% endif %}
),

tracks as (
    select
        record_customers.customer_id,
        tracks.event_name,
        tracks.event_at as occurred_at
    from {{ ref('stg_events__tracks') }} as tracks
    inner join record_customers
        on
            record_customers.record_source = 'events/tracks'
            and tracks.message_id = record_customers.record_key
    where {{ as_of_cut('tracks', 'tracks.event_at') }}
),

purchases as (
    select
        customer_id,
        'Purchase' as event_name,
        ordered_at as occurred_at
    from {{ ref('int_traits__customer_orders') }}
    where
        is_purchase
    {% if is_incremental() %}
        and customer_id in (select affected.customer_id from affected)
    {% endif %}
),

email_events as (
    select
        record_customers.customer_id,
        case email_events.event_type
            when 'sent' then 'Email Sent'
            when 'delivered' then 'Email Delivered'
            when 'open' then 'Email Opened'
            when 'click' then 'Email Clicked'
            when 'bounce' then 'Email Bounced'
            when 'unsubscribe' then 'Email Unsubscribed'
            when 'spam_report' then 'Email Marked Spam'
        end as event_name,
        email_events.occurred_at
    from {{ ref('stg_email__events') }} as email_events
    inner join record_customers
        on
            record_customers.record_source = 'email/events'
            and email_events.email_event_id = record_customers.record_key
    where {{ as_of_cut('email_events', 'email_events.occurred_at') }}
),

tickets as (
    select
        record_customers.customer_id,
        'Ticket Created' as event_name,
        tickets.created_at as occurred_at
    from {{ ref('stg_support__tickets') }} as tickets
    inner join record_customers
        on
            record_customers.record_source = 'support/tickets'
            and tickets.ticket_id = record_customers.record_key
    where {{ as_of_cut('tickets', 'tickets.created_at') }}
),

unioned as (
    select * from tracks
    union all
    -- orders after as_of are not in int_traits__customer_orders
    select * from purchases
    union all
    select * from email_events
    union all
    select * from tickets
),

final as (
    select
        customer_id,
        event_name,
        occurred_at,
        {{ run_stamp() }} as changed_at
    from unioned
)

select * from final
