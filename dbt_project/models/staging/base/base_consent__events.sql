with

source as (
    select * from {{ source('consent', 'events') }}
),

parsed as (
    select
        {{ clean_text('source.consent_event_id') }} as consent_event_id,
        {{ identity_identifier_type('source.identifier_type') }} as identifier_type,
        source.identifier_value as identifier_value_raw,
        {{ phone_parse_columns('source.identifier_value', record_country=none) }},
        lower({{ clean_text('source.purpose') }}) as purpose,
        lower({{ clean_text('source.status') }}) as consent_status,
        {{ parse_timestamp_utc('source.recorded_at') }} as recorded_at,
        lower({{ clean_text('source.source') }}) as consent_source,
        source._landed_file,
        {{ row_hash('source', [
            'consent_event_id', 'identifier_type', 'identifier_value', 'purpose', 'status',
            'recorded_at', 'source'
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
        consent_event_id,
        identifier_type,
        identifier_value,
        purpose,
        consent_status,
        recorded_at,
        consent_source,
        case
            when consent_event_id is null then 'missing consent_event_id'
            when identifier_type is null then 'unknown identifier_type'
            when identifier_value is null then 'missing or invalid identifier_value'
            when purpose is null or purpose not in (
                'email_marketing', 'sms_marketing', 'ads_personalization', 'data_sale_sharing'
            ) then 'unknown purpose'
            when consent_status is null or consent_status not in ('granted', 'denied', 'revoked')
                then 'unknown status'
            when recorded_at is null then 'missing or unreadable recorded_at'
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from normalized
)

select * from validated
