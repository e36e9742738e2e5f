{#
    Every value a source offers for a golden-record field (once per customer, value and
    source, with its most recent observation), with what survivorship ranks by.
    Email and phone candidates must be linking identifiers of the customer (never a
    placeholder or a shared value); CRM contacts marked deleted offer nothing.

    Incremental: only the affected customers' records are read. That also finds every record
    carrying one of their emails: a record's linking identifiers all belong to its customer.
#}
{%- set inputs = model_inputs(
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_customers__affected_records'),
    ref('int_identity__record_customers'),
    ref('int_identity__identifier_customers')
) -%}
with

{% if is_incremental() %}
    affected_customers as (
        {{ affected_customers(inputs) }}
    ),
{% endif %}

record_customers as (
    {{ records_of_affected_customers(inputs) }}
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

priorities as (
    select * from {{ ref('identity_source_priority') }}
),

shop_customers as (
    select * from {{ ref('stg_shop__customers') }}
    where {{ records_of_customers('shop/customers', 'customer_id') }}
),

crm_contacts as (
    select * from {{ ref('stg_crm__contacts') }}
    where not is_deleted and {{ records_of_customers('crm/contacts', 'contact_id') }}
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
        email,
        identified_at as observed_at
    from {{ ref('stg_events__identifies') }}
    where {{ records_of_customers('events/identifies', 'message_id') }}

    union all

    select
        'shop/orders' as record_source,
        email,
        updated_at as observed_at
    from {{ ref('stg_shop__orders') }}
    where {{ records_of_customers('shop/orders', 'order_id') }}

    union all

    select
        'support/tickets' as record_source,
        requester_email as email,
        created_at as observed_at
    from {{ ref('stg_support__tickets') }}
    where {{ records_of_customers('support/tickets', 'ticket_id') }}

    union all

    select
        'email/events' as record_source,
        email,
        occurred_at as observed_at
    from {{ ref('stg_email__events') }}
    where {{ records_of_customers('email/events', 'email_event_id') }}
),

profile_values as (
    -- noqa: disable=LT02
    {% for field in ['email', 'phone', 'first_name', 'last_name', 'country', 'city'] %}
        select
            record_source,
            record_key,
            observed_at,
            '{{ field }}' as field_name,
            {{ field }} as field_value
        from profile_records
        where {{ field }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
),

profile_candidates as (
    select
        record_customers.customer_id,
        profile_values.field_name,
        profile_values.field_value,
        profile_values.record_source,
        max(profile_values.observed_at) as observed_at
    from profile_values
    inner join record_customers
        on
            profile_values.record_source = record_customers.record_source
            and profile_values.record_key = record_customers.record_key
    group by
        record_customers.customer_id,
        profile_values.field_name,
        profile_values.field_value,
        profile_values.record_source
),

-- An email on an order, event or ticket is itself an identifier: its customer is the one the
-- identity graph gave it, so these need no record-level join.
email_candidates as (
    select
        identifier_customers.customer_id,
        'email' as field_name,
        emails.email as field_value,
        emails.record_source,
        emails.observed_at
    from (
        select
            record_source,
            email,
            max(observed_at) as observed_at
        from email_only_records
        where email is not null
        group by record_source, email
    ) as emails
    inner join identifier_customers
        on {{ identifier_key("'email'", 'emails.email') }} = identifier_customers.identifier_key
),

candidates as (
    select * from profile_candidates
    union all
    select * from email_candidates
),

final as (
    select
        candidates.customer_id,
        candidates.field_name,
        candidates.field_value,
        candidates.record_source,
        priorities.source_priority,
        candidates.observed_at
    from candidates
    inner join priorities on candidates.record_source = priorities.record_source
    left join identifier_customers
        on
            candidates.field_name = 'phone'
            and {{ identifier_key("'phone'", 'candidates.field_value') }}
            = identifier_customers.identifier_key
            and candidates.customer_id = identifier_customers.customer_id
    left join identifier_customers as email_owners
        on
            candidates.field_name = 'email'
            and {{ identifier_key("'email'", 'candidates.field_value') }}
            = email_owners.identifier_key
            and candidates.customer_id = email_owners.customer_id
    where
        (candidates.field_name <> 'phone' or identifier_customers.identifier_key is not null)
        and (candidates.field_name <> 'email' or email_owners.identifier_key is not null)
)

select * from final
