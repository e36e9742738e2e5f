{#
    One row per ticket: its latest state by coalesce(solved_at, created_at), then by file.
    Incremental (docs/adr/0002): the skeleton is macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'support/tickets',
    ref('base_support__tickets'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'ticket_id', 'requester_email', 'channel', 'priority', 'status', 'satisfaction_score',
        'is_erased', 'has_invalid_email', 'has_invalid_solved_at', 'has_invalid_satisfaction_score',
        'created_at', 'solved_at',
    ],
    erasable=[
        'requester_email',
    ],
) }}
