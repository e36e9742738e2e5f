with

source as (
    select * from {{ source('email', 'events') }}
),

parsed as (
    select
        {{ clean_text('event_id') }} as email_event_id,
        {{ normalize_email('email') }} as email,
        {{ clean_text('email') }} is not null as has_email_value,
        {{ clean_text('campaign_id') }} as campaign_id,
        lower({{ clean_text('event_type') }}) as event_type,
        {{ parse_timestamp_utc('occurred_at') }} as occurred_at,
        {{ timestamp_quarantine_reason('occurred_at', 'occurred_at') }} as occurred_at_problem,
        source._landed_file,
        {{ row_hash('source', landing_table('email/events').columns) }}
            as _row_hash
    from source
),

validated as (
    select
        email_event_id,
        email,
        campaign_id,
        event_type,
        occurred_at,
        case
            when email_event_id is null then 'missing event_id'
            when email is null and has_email_value then 'invalid email'
            when email is null then 'missing email'
            when event_type is null or event_type not in (
                'sent', 'delivered', 'open', 'click', 'bounce', 'unsubscribe', 'spam_report'
            ) then 'unknown event_type'
            when occurred_at is null then occurred_at_problem
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from parsed
)

select * from validated
