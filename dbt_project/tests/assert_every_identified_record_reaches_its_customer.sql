-- A whole-warehouse invariant: checked nightly (the hourly job excludes tag:nightly).
{{ config(tags=['nightly']) }}

-- Every linking identifier carried by a landed record must resolve to a customer, and
-- (unless the person was erased) be listed in customer_identifiers. A record under erasure
-- gives no values (staging masks it), so its identifiers need not be listed through it: a
-- consent event whose phone without a country code matched an erased person is masked, yet
-- belongs to the customer of its default-country reading. The identifiers that fail
-- are found first (millions of rows fewer than the observations), then the records carrying
-- them: joining every observation to every table at once needs gigabytes of hash tables.
with

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
),

erased_records as (
    select * from {{ ref('int_privacy__erased_records') }}
),

failing_identifiers as (
    select
        identifiers.identifier_key,
        identifier_customers.customer_id
    from identifiers
    left join identifier_customers
        on identifiers.identifier_key = identifier_customers.identifier_key
    left join listed on identifiers.identifier_key = listed.identifier_key
    left join erased on identifier_customers.customer_id = erased.customer_id
    where
        identifier_customers.customer_id is null
        or (listed.identifier_key is null and erased.customer_id is null)
)

select
    observations.record_source,
    observations.record_key,
    observations.identifier_type,
    failing_identifiers.customer_id
from {{ ref('int_identity__observations') }} as observations
inner join failing_identifiers
    on observations.identifier_key = failing_identifiers.identifier_key
left join erased_records
    on
        observations.record_source = erased_records.record_source
        and observations.record_key = erased_records.record_key
where
    erased_records.record_key is null
    or failing_identifiers.customer_id is null
