-- A person with an erasure request keeps no personal data in any materialized model:
-- no golden fields, no identifiers, and every staging record of theirs masked.
with

erased as (
    select customer_id from {{ ref('int_privacy__erased_customers') }}
),

erased_records as (
    select
        record_customers.record_source,
        record_customers.record_key
    from {{ ref('int_identity__record_customers') }} as record_customers
    inner join erased on record_customers.customer_id = erased.customer_id
),

violations as (
    select
        'customers' as model_name,
        customers.customer_id as record_key
    from {{ ref('customers') }} as customers
    inner join erased on customers.customer_id = erased.customer_id
    where
        customers.email is not null or customers.phone is not null
        or customers.first_name is not null or customers.last_name is not null
        or customers.city is not null or not customers.is_erased

    union all

    select
        'customer_identifiers' as model_name,
        customer_identifiers.identifier_value as record_key
    from {{ ref('customer_identifiers') }} as customer_identifiers
    inner join erased on customer_identifiers.customer_id = erased.customer_id

    union all

    select
        'stg_crm__contacts' as model_name,
        contacts.contact_id as record_key
    from {{ ref('stg_crm__contacts') }} as contacts
    inner join erased_records
        on
            erased_records.record_source = 'crm/contacts'
            and contacts.contact_id = erased_records.record_key
    where
        contacts.email is not null or contacts.phone is not null
        or contacts.first_name is not null or contacts.last_name is not null

    union all

    select
        'stg_shop__customers' as model_name,
        shop_customers.customer_id as record_key
    from {{ ref('stg_shop__customers') }} as shop_customers
    inner join erased_records
        on
            erased_records.record_source = 'shop/customers'
            and shop_customers.customer_id = erased_records.record_key
    where
        shop_customers.email is not null or shop_customers.phone is not null
        or shop_customers.first_name is not null or shop_customers.last_name is not null

    union all

    select
        'stg_shop__orders' as model_name,
        orders.order_id as record_key
    from {{ ref('stg_shop__orders') }} as orders
    inner join erased_records
        on
            erased_records.record_source = 'shop/orders'
            and orders.order_id = erased_records.record_key
    where orders.email is not null

    union all

    select
        'stg_events__identifies' as model_name,
        identifies.message_id as record_key
    from {{ ref('stg_events__identifies') }} as identifies
    inner join erased_records
        on
            erased_records.record_source = 'events/identifies'
            and identifies.message_id = erased_records.record_key
    where identifies.email is not null or identifies.traits is not null

    union all

    select
        'stg_email__events' as model_name,
        email_events.email_event_id as record_key
    from {{ ref('stg_email__events') }} as email_events
    inner join erased_records
        on
            erased_records.record_source = 'email/events'
            and email_events.email_event_id = erased_records.record_key
    where email_events.email is not null

    union all

    select
        'stg_support__tickets' as model_name,
        tickets.ticket_id as record_key
    from {{ ref('stg_support__tickets') }} as tickets
    inner join erased_records
        on
            erased_records.record_source = 'support/tickets'
            and tickets.ticket_id = erased_records.record_key
    where tickets.requester_email is not null

    union all

    select
        'stg_consent__events' as model_name,
        consent_events.consent_event_id as record_key
    from {{ ref('stg_consent__events') }} as consent_events
    inner join erased_records
        on
            erased_records.record_source = 'consent/events'
            and consent_events.consent_event_id = erased_records.record_key
    where consent_events.identifier_value is not null
)

select * from violations
