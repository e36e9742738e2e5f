{#
    The customer behind every landed record that carries a linking identifier. All of a
    record's linking identifiers are in one component, so any of them gives the customer.
    Records whose identifiers are all suppressed are listed in identity_unresolved_records.

    Incremental: the records logged in int_identity__record_changes since the last run (they
    carry an identifier whose customer may have changed). `changed_at` marks them: the
    customer-level models start from it.
#}
{%- set inputs = model_inputs(
    ref('int_identity__identifiers'),
    ref('int_identity__components'),
    ref('int_identity__record_changes'),
    ref('int_identity__observations')
) -%}
with

-- Incremental: the observations of the records logged since (affected_records(), by the same
-- rule: rewritten since, or carrying an affected node), in one pass matching numbers.
observations as (
    -- noqa: disable=LT02
    {% if incremental_since() is not none %}
        {{ affected_record_observations(inputs) }}
    {% else %}
        select * from {{ ref('int_identity__observations') }}
    {% endif %}
    -- noqa: enable=LT02
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
