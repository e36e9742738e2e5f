{#
    One row per consent decision (consent_event_id), like stg_events__tracks.
    `identifier_key` is computed once, from the unmasked value, and carried with the staged
    row (its identifier_value may be masked). Incremental (docs/adr/0002): the skeleton is
    macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'consent/events',
    ref('base_consent__events'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'consent_event_id', 'identifier_type', 'identifier_value', 'identifier_key', 'purpose',
        'consent_status', 'consent_source', 'is_erased', 'recorded_at',
    ],
    erasable=[
        'identifier_value',
    ],
    landed={
        'identifier_key': identifier_key('identifier_type', 'identifier_value'),
    },
) }}
