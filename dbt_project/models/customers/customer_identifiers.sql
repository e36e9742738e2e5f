{#
    Every distinct normalized identifier of every customer, the way to reach a person from any
    source record. Values come from staging (already masked for erasure) plus the superseded
    versions of CRM contacts and shop accounts, so an email someone used before changing it
    still resolves. Erased customers have no rows; suppressed identifiers (placeholders, shared
    values) belong to nobody and are listed in identity_suppressed_identifiers.
#}
with

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

erased_customers as (
    select * from {{ ref('int_privacy__erased_customers') }}
),

erased_records as (
    select * from {{ ref('int_privacy__erased_records') }}
),

superseded_contacts as (
    select
        'crm/contacts' as record_source,
        contact_id,
        email,
        phone
    from {{ ref('base_crm__contacts') }}
    where _disposition = 'superseded'
),

superseded_shop_customers as (
    select
        'shop/customers' as record_source,
        customer_id,
        email,
        phone
    from {{ ref('base_shop__customers') }}
    where _disposition = 'superseded'
),

values_seen as (
    select 'crm_contact_id' as identifier_type, contact_id as identifier_value
    from {{ ref('stg_crm__contacts') }}
    union
    select 'email', email from {{ ref('stg_crm__contacts') }}
    union
    select 'phone', phone from {{ ref('stg_crm__contacts') }}
    union
    select 'shop_customer_id', customer_id from {{ ref('stg_shop__customers') }}
    union
    select 'email', email from {{ ref('stg_shop__customers') }}
    union
    select 'phone', phone from {{ ref('stg_shop__customers') }}
    union
    select 'shop_customer_id', customer_id from {{ ref('stg_shop__orders') }}
    union
    select 'email', email from {{ ref('stg_shop__orders') }}
    union
    select 'anonymous_id', anonymous_id from {{ ref('stg_events__identifies') }}
    union
    select 'shop_customer_id', user_id from {{ ref('stg_events__identifies') }}
    union
    select 'email', email from {{ ref('stg_events__identifies') }}
    union
    select 'anonymous_id', anonymous_id from {{ ref('stg_events__tracks') }}
    union
    select 'shop_customer_id', user_id from {{ ref('stg_events__tracks') }}
    union
    select 'email', email from {{ ref('stg_email__events') }}
    union
    select 'email', requester_email from {{ ref('stg_support__tickets') }}
    union
    select identifier_type, identifier_value from {{ ref('stg_consent__events') }}
    {% for superseded in ['superseded_contacts', 'superseded_shop_customers'] %}
        {% for column in ['email', 'phone'] %}
            union
            select '{{ column }}', {{ superseded }}.{{ column }}
            from {{ superseded }}
            left join erased_records
                on
                    {{ superseded }}.record_source = erased_records.record_source
                    and {{ superseded }}.{{ 'contact_id' if superseded == 'superseded_contacts' else 'customer_id' }}
                    = erased_records.record_key
            where erased_records.record_key is null
        {% endfor %}
    {% endfor %}
),

final as (
    select
        identifier_customers.customer_id,
        values_seen.identifier_type,
        values_seen.identifier_value,
        identifier_customers.first_seen_at,
        identifier_customers.last_seen_at,
        identifier_customers.record_count
    from values_seen
    inner join identifier_customers
        on {{ identifier_key('values_seen.identifier_type', 'values_seen.identifier_value') }}
        = identifier_customers.identifier_key
    left join erased_customers
        on identifier_customers.customer_id = erased_customers.customer_id
    where values_seen.identifier_value is not null and erased_customers.customer_id is null
)

select * from final
