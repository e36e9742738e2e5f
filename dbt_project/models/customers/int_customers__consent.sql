{#
    Consent per customer and purpose: the latest consent event recorded for any of the
    customer's identifiers wins (ties: the larger consent_event_id). An event for purpose 'all'
    (a withdrawal whose purpose could not be read, or one that names every purpose) counts for
    every purpose. Events on suppressed
    identifiers (placeholders, shared values) cannot be attributed and are ignored. An event
    whose phone has no country code reaches the customers int_privacy__national_phone_matches
    applies it to (a withdrawal every customer it matches, a grant its one match), never the
    customer of its default-country reading as such.
    Incremental: only the events on the affected customers' identifiers are ranked.
#}
{%- set inputs = model_inputs(
    ref('int_identity__record_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__identifier_customers'),
    ref('int_privacy__national_phone_matches')
) -%}
with

{% if is_incremental() %}
    affected_customers as (
        {{ affected_customers(inputs) }}
    ),
{% endif %}

consent_events as (
    select * from {{ ref('stg_consent__events') }}
),

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

national_phone_matches as (
    select * from {{ ref('int_privacy__national_phone_matches') }}
    where landing_table = 'consent/events' and is_current
),

event_customers as (
    select
        consent_events.consent_event_id,
        identifier_customers.customer_id
    from consent_events
    inner join identifier_customers
        on consent_events.identifier_key = identifier_customers.identifier_key
    left join national_phone_matches
        on consent_events.consent_event_id = national_phone_matches.record_key
    where national_phone_matches.record_key is null

    union all

    select
        national_phone_matches.record_key as consent_event_id,
        national_phone_matches.customer_id
    from national_phone_matches
    where
        national_phone_matches.is_applied
    {% if is_incremental() %}
            and national_phone_matches.customer_id in (
                select affected_customers.customer_id from affected_customers
            )
        {% endif %}
),

purposes as (
    -- noqa: disable=LT02
    {% for purpose in consent_purposes() %}
        select '{{ purpose }}' as purpose
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
),

ranked as (
    select
        event_customers.customer_id,
        purposes.purpose,
        consent_events.consent_status,
        consent_events.recorded_at,
        row_number() over (
            partition by event_customers.customer_id, purposes.purpose
            order by consent_events.recorded_at desc, consent_events.consent_event_id desc
        ) as recency_rank
    from consent_events
    inner join event_customers
        on consent_events.consent_event_id = event_customers.consent_event_id
    inner join purposes
        on consent_events.purpose in (purposes.purpose, 'all')
),

final as (
    select
        customer_id,
        -- noqa: disable=LT01,LT02
        {% for purpose in consent_purposes() %}
            max(case when purpose = '{{ purpose }}' then consent_status = 'granted' end)
                as consent_{{ purpose }},
            max(case when purpose = '{{ purpose }}' then recorded_at end)
                as consent_{{ purpose }}_recorded_at{{ ',' if not loop.last }}
        {% endfor %}
    -- noqa: enable=LT01,LT02
    from ranked
    where recency_rank = 1
    group by customer_id
)

select * from final
