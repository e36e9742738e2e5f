with

source as (
    select * from {{ source('events', 'identifies') }}
),

parsed as (
    select
        {{ clean_text('message_id') }} as message_id,
        {{ clean_text('anonymous_id') }} as anonymous_id,
        {{ clean_text('user_id') }} as user_id,
        {{ normalize_email('email') }} as email,
        {{ clean_text('email') }} is not null as has_email_value,
        {{ parse_timestamp_utc(adapter.quote('timestamp')) }} as identified_at,
        {{ timestamp_quarantine_reason(adapter.quote('timestamp'), 'timestamp') }}
            as identified_at_problem,
        case when {{ is_json_object('traits') }} then traits end as traits,
        {{ clean_text('traits') }} is not null
        and not {{ is_json_object('traits') }} as has_invalid_traits,
        source._landed_file,
        {{ row_hash('source', landing_table('events/identifies').columns) }} as _row_hash
    from source
),

validated as (
    select
        message_id,
        anonymous_id,
        user_id,
        email,
        identified_at,
        traits,
        has_email_value and email is null as has_invalid_email,
        has_invalid_traits,
        case
            when message_id is null then 'missing message_id'
            when anonymous_id is null and user_id is null and email is null
                then 'no anonymous_id, user_id or valid email'
            when identified_at is null then identified_at_problem
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from parsed
)

select * from validated
