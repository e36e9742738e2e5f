{#
    People who asked to be erased: every customer that any valid deletion request's identifier
    resolves to. A request whose phone has no country code erases the one customer
    int_privacy__national_phone_matches finds for it, and nobody when it matches none or
    several (privacy_unapplied_rows lists it). Only keys and timestamps are kept here.
#}
with

requests as (
    select * from {{ ref('stg_privacy__deletion_requests') }}
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

national_phone_matches as (
    select * from {{ ref('int_privacy__national_phone_matches') }}
    where landing_table = 'privacy/deletion_requests'
),

request_customers as (
    select
        requests.deletion_request_id,
        requests.requested_at,
        identifier_customers.customer_id
    from requests
    inner join identifier_customers
        on requests.identifier_key = identifier_customers.identifier_key
    left join national_phone_matches
        on requests.deletion_request_id = national_phone_matches.record_key
    where national_phone_matches.record_key is null

    union all

    select
        requests.deletion_request_id,
        requests.requested_at,
        national_phone_matches.customer_id
    from requests
    inner join national_phone_matches
        on requests.deletion_request_id = national_phone_matches.record_key
    where national_phone_matches.is_applied
),

final as (
    select
        customer_id,
        min(requested_at) as erasure_requested_at,
        count(distinct deletion_request_id) as deletion_request_count
    from request_customers
    group by customer_id
)

select * from final
