{#
    Deletion requests keep only the hashed identifier: the request itself must not hold PII
    (identifier_key is computed from the landed value, which is never stored). Erasure reads
    these rows (int_privacy__erased_customers), so nothing here is masked. Incremental
    (docs/adr/0002): the skeleton is macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'privacy/deletion_requests',
    ref('base_privacy__deletion_requests'),
    columns=[
        'deletion_request_id', 'identifier_type', 'identifier_key', 'requested_at',
    ],
    landed={
        'identifier_key': identifier_key('identifier_type', 'identifier_value'),
    },
) }}
