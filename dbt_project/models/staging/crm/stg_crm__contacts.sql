{#
    One row per contact: its latest version by updated_at, then by file, among every file
    landed so far, so a late stale version never wins. Incremental (docs/adr/0002): the
    skeleton is macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'crm/contacts',
    ref('base_crm__contacts'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'contact_id', 'email', 'phone', 'first_name', 'last_name', 'company', 'job_title',
        'country', 'city', 'lifecycle_stage', 'is_deleted', 'is_erased', 'has_invalid_email',
        'has_invalid_phone', 'has_unrecognized_country', 'has_invalid_is_deleted',
        'has_invalid_created_at', 'has_invalid_updated_at', 'created_at', 'updated_at',
    ],
    erasable=[
        'email', 'phone', 'first_name', 'last_name', 'company', 'job_title', 'country', 'city',
    ],
) }}
