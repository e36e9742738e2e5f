{#
    Every value a source offers for a golden-record field (once per customer, value and
    source, with its most recent observation), with what survivorship ranks by.
    Email and phone candidates must be linking identifiers of the customer (never a
    placeholder or a shared value); CRM contacts marked deleted offer nothing.
#}
with

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

priorities as (
    select * from {{ ref('identity_source_priority') }}
),

shop_customers as (
    select * from {{ ref('stg_shop__customers') }}
),

crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where not is_deleted
),

profile_records as (
    select
        'shop/customers' as record_source,
        customer_id as record_key,
        updated_at as observed_at,
        email,
        phone,
        first_name,
        last_name,
        country,
        city
    from shop_customers

    union all

    select
        'crm/contacts' as record_source,
        contact_id as record_key,
        updated_at as observed_at,
        email,
        phone,
        first_name,
        last_name,
        country,
        city
    from crm_contacts
),

email_only_records as (
    select
        'events/identifies' as record_source,
        message_id as record_key,
        identified_at as observed_at,
        email
    from {{ ref('stg_events__identifies') }}

    union all

    select
        'shop/orders' as record_source,
        order_id as record_key,
        updated_at as observed_at,
        email
    from {{ ref('stg_shop__orders') }}

    union all

    select
        'support/tickets' as record_source,
        ticket_id as record_key,
        created_at as observed_at,
        requester_email as email
    from {{ ref('stg_support__tickets') }}

    union all

    select
        'email/events' as record_source,
        email_event_id as record_key,
        occurred_at as observed_at,
        email
    from {{ ref('stg_email__events') }}
),

unpivoted as (
    {% for field in ['email', 'phone', 'first_name', 'last_name', 'country', 'city'] %}
    select
        record_source,
        record_key,
        observed_at,
        '{{ field }}' as field_name,
        {{ field }} as field_value
    from profile_records
    where {{ field }} is not null
    union all
    {% endfor %}
    select
        record_source,
        record_key,
        observed_at,
        'email' as field_name,
        email as field_value
    from email_only_records
    where email is not null
),

candidates as (
    select
        record_customers.customer_id,
        unpivoted.field_name,
        unpivoted.field_value,
        unpivoted.record_source,
        min(priorities.source_priority) as source_priority,
        max(unpivoted.observed_at) as observed_at
    from unpivoted
    inner join record_customers
        on
            unpivoted.record_source = record_customers.record_source
            and unpivoted.record_key = record_customers.record_key
    inner join priorities on unpivoted.record_source = priorities.record_source
    group by
        record_customers.customer_id,
        unpivoted.field_name,
        unpivoted.field_value,
        unpivoted.record_source
),

final as (
    select candidates.*
    from candidates
    left join identifier_customers
        on
            candidates.field_name in ('email', 'phone')
            and {{ identifier_key('candidates.field_name', 'candidates.field_value') }}
            = identifier_customers.identifier_key
            and candidates.customer_id = identifier_customers.customer_id
    where
        candidates.field_name not in ('email', 'phone')
        or identifier_customers.identifier_key is not null
)

select * from final
