{#
    Every landed record whose personal fields must be masked: the records of erased customers,
    plus records that carry a requested identifier directly (even when that identifier is
    suppressed and so resolves to nobody).
#}
with

requests as (
    select identifier_key from {{ ref('stg_privacy__deletion_requests') }}
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
)

select * from final
