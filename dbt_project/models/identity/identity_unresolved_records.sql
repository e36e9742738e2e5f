{#
    Usable landed records that could not be tied to any person because every identifier they
    carry is suppressed (e.g. a guest order placed with test@test.com). They stay in staging;
    this model makes them countable instead of silently unattributed.
#}
with

observations as (
    select * from {{ ref('int_identity__observations') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

final as (
    select
        observations.record_source,
        observations.record_key,
        'only suppressed identifiers: '
        || min(identifiers.suppression_reason) as reason,
        min(observations.observed_at) as observed_at
    from observations
    inner join identifiers on observations.identifier_key = identifiers.identifier_key
    left join record_customers
        on
            observations.record_source = record_customers.record_source
            and observations.record_key = record_customers.record_key
    where record_customers.record_key is null
    group by 1, 2
)

select * from final
