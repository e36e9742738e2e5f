{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        unique_key=['record_source', 'record_key'],
        incremental_strategy='replace',
        affected_keys='changed_records',
        post_hook="{{ record_incremental_run() }}",
    )
}}

{#
    The customer behind every landed record that carries a linking identifier. All of a
    record's linking identifiers are in one component, so any of them gives the customer.
    Records whose identifiers are all suppressed are listed in identity_unresolved_records.

    Incremental: the records logged in int_identity__record_changes since the last run (they
    carry an identifier whose customer may have changed). `changed_at` marks them: the
    customer-level models start from it.
#}
-- depends_on: {{ ref('int_identity__identifiers') }}
-- depends_on: {{ ref('int_identity__components') }}
-- depends_on: {{ ref('int_identity__record_changes') }}
with

-- Incremental: the observations of the records logged since (affected_records(), by the same
-- rule: rewritten since, or carrying an affected node), in one pass matching numbers.
observations as (
    -- noqa: disable=LT02
    {% if incremental_since() is not none %}
        {{ affected_record_observations() }}
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
