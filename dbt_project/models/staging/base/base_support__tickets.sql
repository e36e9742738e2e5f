with

source as (
    select * from {{ source('support', 'tickets') }}
),

parsed as (
    select
        {{ clean_text('ticket_id') }} as ticket_id,
        {{ normalize_email('requester_email') }} as requester_email,
        {{ clean_text('requester_email') }} is not null as has_email_value,
        lower({{ clean_text('channel') }}) as channel,
        lower({{ clean_text('priority') }}) as priority,
        lower({{ clean_text('status') }}) as status,
        {{ parse_timestamp_utc('created_at') }} as created_at,
        {{ timestamp_quarantine_reason('created_at', 'created_at') }} as created_at_problem,
        {{ parse_timestamp_utc('solved_at') }} as solved_at,
        {{ is_unparseable('solved_at', parse_timestamp_utc('solved_at')) }}
            as has_invalid_solved_at,
        {{ parse_integer('satisfaction_score') }} as satisfaction_score_raw,
        {{ clean_text('satisfaction_score') }} is not null as has_satisfaction_value,
        source._landed_file,
        {{ row_hash('source', landing_table('support/tickets').columns) }} as _row_hash
    from source
),

validated as (
    select
        ticket_id,
        requester_email,
        channel,
        priority,
        status,
        created_at,
        solved_at,
        case
            when satisfaction_score_raw between 1 and 5 then satisfaction_score_raw
        end as satisfaction_score,
        has_email_value and requester_email is null as has_invalid_email,
        has_invalid_solved_at,
        has_satisfaction_value
        and coalesce(satisfaction_score_raw not between 1 and 5, true)
            as has_invalid_satisfaction_score,
        case
            when ticket_id is null then 'missing ticket_id'
            when created_at is null then created_at_problem
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from parsed
)

select * from validated
