{#
    Every landed record whose personal fields must be masked: the records of erased customers,
    plus records that carry a requested identifier directly (even when that identifier is
    suppressed and so resolves to nobody), plus the consent events whose phone without a
    country code matches an erased customer (such an event is a record of the customer of its
    default-country reading, if of anyone, yet holds the erased person's number). A deletion
    request by a phone without a country code carries no identifier directly: only the customer
    it matches is erased (int_privacy__erased_customers).
#}
with

national_phone_matches as (
    select * from {{ ref('int_privacy__national_phone_matches') }}
    where is_current
),

requests as (
    select requests.identifier_key
    from {{ ref('stg_privacy__deletion_requests') }} as requests
    left join national_phone_matches
        on
            national_phone_matches.landing_table = 'privacy/deletion_requests'
            and requests.deletion_request_id = national_phone_matches.record_key
    where national_phone_matches.record_key is null
),

erased_customers as (
    select * from {{ ref('int_privacy__erased_customers') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

observations as (
    select * from {{ ref('int_identity__observations') }}
),

final as (
    select
        record_customers.record_source,
        record_customers.record_key
    from record_customers
    inner join erased_customers on record_customers.customer_id = erased_customers.customer_id

    union

    select
        observations.record_source,
        observations.record_key
    from observations
    inner join requests on observations.identifier_key = requests.identifier_key

    union

    select
        national_phone_matches.landing_table as record_source,
        national_phone_matches.record_key
    from national_phone_matches
    inner join erased_customers
        on national_phone_matches.customer_id = erased_customers.customer_id
    where national_phone_matches.landing_table = 'consent/events'
)

select * from final
