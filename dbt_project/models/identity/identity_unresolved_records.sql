{#
    Usable landed records that could not be tied to any person because every identifier they
    carry is suppressed (e.g. a guest order placed with test@test.com). They stay in staging;
    this model makes them countable instead of silently unattributed.
    Incremental: the records logged in int_identity__record_changes since the last run.
#}
{%- set inputs = model_inputs(
    ref('int_identity__components'),
    ref('int_identity__record_changes'),
    ref('int_identity__observations'),
    ref('int_identity__identifiers')
) -%}
with

suppressed_identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where is_suppressed
),

-- A record none of whose identifiers resolves carries only suppressed ones (every other
-- identifier has a customer), so only the observations of suppressed identifiers are read.
observations as (
    select * from {{ ref('int_identity__observations') }} as all_observations -- noqa: AL05
    where
        identifier_key in (select suppressed_identifiers.identifier_key from suppressed_identifiers)
    {% if is_incremental() %}
            and exists (
                select 1 from ({{ changed_records(inputs) }}) as affected
                where
                    affected.record_source = all_observations.record_source
                    and affected.record_key = all_observations.record_key
            )
        {% endif %}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
),

final as (
    select
        observations.record_source,
        observations.record_key,
        'only suppressed identifiers: '
        || min(suppressed_identifiers.suppression_reason) as reason,
        min(observations.observed_at) as observed_at
    from observations
    inner join suppressed_identifiers
        on observations.identifier_key = suppressed_identifiers.identifier_key
    left join record_customers
        on
            observations.record_source = record_customers.record_source
            and observations.record_key = record_customers.record_key
    where record_customers.record_key is null
    group by 1, 2
)

select * from final
