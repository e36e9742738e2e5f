{#
    One row per email event (email_event_id, the landed event_id), like stg_events__tracks.
    Incremental (docs/adr/0002): the skeleton is macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'email/events',
    ref('base_email__events'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'email_event_id', 'email', 'campaign_id', 'event_type', 'is_erased', 'occurred_at',
    ],
    erasable=[
        'email',
    ],
) }}
