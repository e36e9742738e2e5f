{#
    People who asked to be erased: every customer that any valid deletion request's identifier
    resolves to. Only keys and timestamps are kept here.
#}
with

requests as (
    select * from {{ ref('stg_privacy__deletion_requests') }}
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

final as (
    select
        identifier_customers.customer_id,
        min(requests.requested_at) as erasure_requested_at,
        count(distinct requests.deletion_request_id) as deletion_request_count
    from requests
    inner join identifier_customers
        on requests.identifier_key = identifier_customers.identifier_key
    group by identifier_customers.customer_id
)

select * from final
