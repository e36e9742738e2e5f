with

consent_events as (
    select * from {{ ref('base_consent__events') }}
    where _disposition = 'staged'
),

final as (
    select
        consent_events.consent_event_id,
        consent_events.identifier_type,
        {{ unless_erased('consent_events.identifier_value') }} as identifier_value,
        {{ identifier_key('consent_events.identifier_type', 'consent_events.identifier_value') }}
            as identifier_key,
        consent_events.purpose,
        consent_events.consent_status,
        consent_events.consent_source,
        {{ is_erased() }} as is_erased,
        consent_events.recorded_at,
        consent_events._landed_file as landed_file
    from consent_events
    {{ left_join_erased('consent/events', 'consent_events.consent_event_id') }}
)

select * from final
