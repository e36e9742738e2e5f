{#
    One row per identify call (message_id), like stg_events__tracks. Incremental
    (docs/adr/0002): the skeleton is macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'events/identifies',
    ref('base_events__identifies'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'message_id', 'anonymous_id', 'user_id', 'email', 'traits', 'is_erased',
        'has_invalid_email', 'has_invalid_traits', 'identified_at',
    ],
    erasable=[
        'anonymous_id', 'user_id', 'email', 'traits',
    ],
) }}
