{#
    The customer behind every landed record that carries a linking identifier. All of a
    record's linking identifiers are in one component, so any of them gives the customer.
    Records whose identifiers are all suppressed are listed in identity_unresolved_records.
#}
with

observations as (
    select * from {{ ref('int_identity__observations') }}
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

final as (
    select
        observations.record_source,
        observations.record_key,
        min(identifier_customers.customer_id) as customer_id,
        min(observations.observed_at) as observed_at,
        {{ run_stamp() }} as changed_at
    from observations
    inner join identifier_customers
        on observations.identifier_key = identifier_customers.identifier_key
    group by 1, 2
)

select * from final
