-- A whole-warehouse invariant: checked nightly (the hourly job excludes tag:nightly).
{{ config(tags=['nightly']) }}

-- Every linking identifier carried by a landed record must resolve to a customer, and
-- (unless the person was erased) be listed in customer_identifiers.
with

observations as (
    select * from {{ ref('int_identity__observations') }}
),

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where not is_suppressed
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

listed as (
    select
        {{ identifier_key('identifier_type', 'identifier_value') }} as identifier_key
    from {{ ref('customer_identifiers') }}
),

erased as (
    select customer_id from {{ ref('int_privacy__erased_customers') }}
)

select
    observations.record_source,
    observations.record_key,
    observations.identifier_type,
    identifier_customers.customer_id
from observations
inner join identifiers on observations.identifier_key = identifiers.identifier_key
left join identifier_customers
    on observations.identifier_key = identifier_customers.identifier_key
left join listed on observations.identifier_key = listed.identifier_key
left join erased on identifier_customers.customer_id = erased.customer_id
where
    identifier_customers.customer_id is null
    or (listed.identifier_key is null and erased.customer_id is null)
