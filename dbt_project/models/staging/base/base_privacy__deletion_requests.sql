with

source as (
    select * from {{ source('privacy', 'deletion_requests') }}
),

parsed as (
    select
        {{ clean_text('source.request_id') }} as deletion_request_id,
        {{ identity_identifier_type('source.identifier_type') }} as identifier_type,
        source.identifier_value as identifier_value_raw,
        {{ phone_parse_columns('source.identifier_value', record_country=none) }},
        {{ parse_timestamp_utc('source.requested_at') }} as requested_at,
        source._landed_file,
        {{ row_hash('source', [
            'request_id', 'identifier_type', 'identifier_value', 'requested_at'
        ]) }} as _row_hash
    from source
    cross join {{ default_phone_country() }} as default_country
),

normalized as (
    select
        *,
        {{ normalized_identifier_value('identifier_type', 'identifier_value_raw') }}
            as identifier_value
    from parsed
),

validated as (
    select
        deletion_request_id,
        identifier_type,
        identifier_value,
        requested_at,
        case
            when deletion_request_id is null then 'missing request_id'
            when identifier_type is null then 'unknown identifier_type'
            when identifier_value is null then 'missing or invalid identifier_value'
            when requested_at is null then 'missing or unreadable requested_at'
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from normalized
)

select * from validated
