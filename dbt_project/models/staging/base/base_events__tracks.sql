with

source as (
    select * from {{ source('events', 'tracks') }}
),

parsed as (
    select
        {{ clean_text('message_id') }} as message_id,
        {{ clean_text('anonymous_id') }} as anonymous_id,
        {{ clean_text('user_id') }} as user_id,
        {{ clean_text('event') }} as event_name,
        {{ parse_timestamp_utc(adapter.quote('timestamp')) }} as event_at,
        {{ timestamp_quarantine_reason(adapter.quote('timestamp'), 'timestamp') }}
            as event_at_problem,
        case when {{ is_json_object('properties') }} then properties end as properties,
        {{ clean_text('properties') }} is not null
        and not {{ is_json_object('properties') }} as has_invalid_properties,
        source._landed_file,
        {{ row_hash('source', landing_table('events/tracks').columns) }} as _row_hash
    from source
),

validated as (
    select
        message_id,
        anonymous_id,
        user_id,
        event_name,
        event_at,
        properties,
        has_invalid_properties,
        case
            when message_id is null then 'missing message_id'
            when anonymous_id is null and user_id is null then 'no anonymous_id or user_id'
            when event_name is null then 'missing event'
            when event_at is null then event_at_problem
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from parsed
)

select * from validated
