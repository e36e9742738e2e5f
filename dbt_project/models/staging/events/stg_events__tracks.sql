{#
    One row per track call (message_id): a re-delivery in a later file is a duplicate,
    ranked exactly as in a full build. Incremental (docs/adr/0002): the skeleton is
    macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'events/tracks',
    ref('base_events__tracks'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'message_id', 'anonymous_id', 'user_id', 'event_name', 'properties', 'is_erased',
        'has_invalid_properties', 'event_at',
    ],
    erasable=[
        'anonymous_id', 'user_id', 'properties',
    ],
) }}
