with

email_events as (
    select * from {{ ref('base_email__events') }}
    where _disposition = 'staged'
),

final as (
    select
        email_events.email_event_id,
        {{ unless_erased('email_events.email') }} as email,
        email_events.campaign_id,
        email_events.event_type,
        {{ is_erased() }} as is_erased,
        email_events.occurred_at,
        email_events._landed_file as landed_file
    from email_events
    {{ left_join_erased('email/events', 'email_events.email_event_id') }}
)

select * from final
