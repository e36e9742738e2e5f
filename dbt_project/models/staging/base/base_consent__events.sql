{#
    Consent events, with the landing variants normalized (macros/normalization/identifiers.sql,
    values.sql; README "Consent and deletion requests"). A withdrawal (status denied or revoked)
    is never dropped for what it lacks: one without a readable purpose withdraws every purpose
    (purpose 'all'); one without a readable, plausible recorded_at takes the latest time of
    its own landed file (when it was delivered, as far as the data tells), else the as_of; one
    without a consent_event_id is keyed by its row fingerprint. A phone without a country code
    keeps its digits (national_phone_digits) when any country reads them: it is matched in
    every country (int_privacy__national_phone_matches). Only a withdrawal that names no
    readable identifier, or a row whose status says neither yes nor no, cannot be applied: it
    is quarantined and fails the blocking test assert_consent_and_deletion_rows_are_applied.
    A grant that cannot be read is quarantined (no consent is the default).
#}
with

source as (
    select * from {{ source('consent', 'events') }}
),

parsed as (
    select
        {{ clean_text('source.consent_event_id') }} as consent_event_id_raw,
        {{ identity_identifier_type('source.identifier_type') }} as identifier_type,
        source.identifier_value as identifier_value_raw,
        {{ phone_parse_columns('source.identifier_value', record_country=none) }},
        {{ consent_purpose('source.purpose') }} as purpose_read,
        {{ consent_status('source.status') }} as consent_status,
        {{ parse_timestamp_utc('source.recorded_at') }} as recorded_at_read,
        {{ timestamp_quarantine_reason('source.recorded_at', 'recorded_at') }}
            as recorded_at_problem,
        lower({{ clean_text('source.source') }}) as consent_source,
        source._landed_file,
        {{ row_hash('source', landing_table('consent/events').columns) }} as _row_hash
    from source
    cross join {{ default_phone_country(ref('country_calling_codes')) }} as default_country
),

readable_national_phones as (
    {{ readable_national_phones('parsed', ref('country_calling_codes')) }}
),

located as (
    select
        parsed.*,
        readable_national_phones.national_phone_digits
    from parsed
    {{ join_readable_national_phones('readable_national_phones', 'parsed') }}
),

normalized as (
    select
        *,
        {{ normalized_identifier_value('identifier_type', 'identifier_value_raw') }}
            as identifier_value,
        coalesce(consent_status in ('denied', 'revoked'), false) as is_withdrawal,
        max(recorded_at_read) over (partition by _landed_file) as latest_recorded_at_in_file
    from located
),

applied as (
    select
        *,
        case
            when consent_event_id_raw is not null then consent_event_id_raw
            when is_withdrawal then {{ dbt.concat(["'unkeyed_'", '_row_hash']) }}
        end as consent_event_id,
        case
            when purpose_read is not null then purpose_read
            when is_withdrawal then 'all'
        end as purpose,
        case
            when recorded_at_read is not null then recorded_at_read
            when is_withdrawal then coalesce(latest_recorded_at_in_file, {{ as_of() }})
        end as recorded_at
    from normalized
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
        national_phone_digits,
        case
            when consent_event_id is null then 'missing consent_event_id'
            when identifier_type is null then 'unknown identifier_type'
            when identifier_value is null and national_phone_digits is null
                then 'missing or invalid identifier_value'
            when consent_status is null then 'unknown status'
            when purpose is null then 'unknown purpose'
            when recorded_at is null then recorded_at_problem
        end as _quarantine_reason,
        -- A row the pipeline must apply and cannot: it fails the blocking test.
        is_withdrawal or consent_status is null as _must_apply,
        _landed_file,
        _row_hash
    from applied
)

select * from validated
