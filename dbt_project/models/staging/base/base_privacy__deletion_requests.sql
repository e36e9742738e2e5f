{#
    Deletion requests, normalized like consent events (README "Consent and deletion
    requests"). An erasure request is applied whatever else it lacks: without a readable,
    plausible requested_at it is applied with requested_at null; without a request_id it is
    keyed by its row fingerprint. A phone without a country code keeps its digits
    (national_phone_digits) when any country reads them: it is matched in every country
    (int_privacy__national_phone_matches). Only a request that names no readable identifier
    cannot be applied: it is quarantined and fails the blocking test
    assert_consent_and_deletion_rows_are_applied.
#}
with

source as (
    select * from {{ source('privacy', 'deletion_requests') }}
),

parsed as (
    select
        {{ clean_text('source.request_id') }} as request_id_raw,
        {{ identity_identifier_type('source.identifier_type') }} as identifier_type,
        source.identifier_value as identifier_value_raw,
        {{ phone_parse_columns('source.identifier_value', record_country=none) }},
        {{ parse_timestamp_utc('source.requested_at') }} as requested_at,
        source._landed_file,
        {{ row_hash('source', landing_table('privacy/deletion_requests').columns) }} as _row_hash
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
        coalesce(request_id_raw, {{ dbt.concat(["'unkeyed_'", '_row_hash']) }})
            as deletion_request_id,
        {{ normalized_identifier_value('identifier_type', 'identifier_value_raw') }}
            as identifier_value
    from located
),

validated as (
    select
        deletion_request_id,
        identifier_type,
        identifier_value,
        requested_at,
        national_phone_digits,
        case
            when identifier_type is null then 'unknown identifier_type'
            when identifier_value is null and national_phone_digits is null
                then 'missing or invalid identifier_value'
        end as _quarantine_reason,
        true as _must_apply,
        _landed_file,
        _row_hash
    from normalized
)

select * from validated
