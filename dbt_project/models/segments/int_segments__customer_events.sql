{#-
    Everything a customer did that a segment's event conditions can count, as
    (customer_id, event_name, occurred_at), up to as_of. Event names: the web's track events
    as sent (Page Viewed, Product Viewed, Product Added, Checkout Started, Order Completed,
    Signed Up, ...), Purchase (an order with status paid or partially_refunded), Email Sent,
    Email Delivered, Email Opened, Email Clicked, Email Bounced, Email Unsubscribed,
    Email Marked Spam, and Ticket Created.
-#}
with

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
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
),

purchases as (
    select
        customer_id,
        'Purchase' as event_name,
        ordered_at as occurred_at
    from {{ ref('int_traits__customer_orders') }}
    where is_purchase
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
),

unioned as (
    select * from tracks
    union all
    select * from purchases
    union all
    select * from email_events
    union all
    select * from tickets
)

select * from unioned
where occurred_at <= {{ as_of() }}
