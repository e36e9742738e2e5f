-- A person with an erasure request keeps no personal data in any materialized model:
-- no golden fields, no identifiers, and every staging record of theirs masked: personal fields
-- and the identifiers that point at the person from another record (anonymous and user ids,
-- an order's shop customer id) are null. A record's own key stays (see the README, Erasure).
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
        'int_customers__versioned_identifiers' as model_name,
        versions.record_key
    from {{ ref('int_customers__versioned_identifiers') }} as versions
    inner join erased_records
        on
            versions.record_source = erased_records.record_source
            and versions.record_key = erased_records.record_key

    -- noqa: disable=LT02
    {% for model_name, record_source, key_column, personal_columns in [
        ('stg_crm__contacts', 'crm/contacts', 'contact_id', ['email', 'phone', 'first_name', 'last_name']),
        ('stg_shop__customers', 'shop/customers', 'customer_id', ['email', 'phone', 'first_name', 'last_name']),
        ('stg_shop__orders', 'shop/orders', 'order_id', ['customer_id', 'email']),
        ('stg_events__identifies', 'events/identifies', 'message_id', ['anonymous_id', 'user_id', 'email', 'traits']),
        ('stg_events__tracks', 'events/tracks', 'message_id', ['anonymous_id', 'user_id', 'properties']),
        ('stg_email__events', 'email/events', 'email_event_id', ['email']),
        ('stg_support__tickets', 'support/tickets', 'ticket_id', ['requester_email']),
        ('stg_consent__events', 'consent/events', 'consent_event_id', ['identifier_value']),
    ] %}
        union all

        select
            '{{ model_name }}' as model_name,
            staged.{{ key_column }} as record_key
        from {{ ref(model_name) }} as staged
        inner join erased_records
            on
                erased_records.record_source = '{{ record_source }}'
                and staged.{{ key_column }} = erased_records.record_key
        where
            {% for column in personal_columns %}
                staged.{{ column }} is not null{{ ' or' if not loop.last }}
            {% endfor %}
    {% endfor %}
    -- noqa: enable=LT02
)

select * from violations
