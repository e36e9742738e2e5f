{#
    One row per storefront account: its latest version by updated_at, then by file, so a
    late stale version never wins. Incremental (docs/adr/0002): the skeleton is
    macros/landing/staging.sql.
#}
{{ staged_landing_table(
    'shop/customers',
    ref('base_shop__customers'),
    erased_records=ref('int_privacy__erased_records'),
    columns=[
        'customer_id', 'email', 'phone', 'first_name', 'last_name', 'country', 'city',
        'accepts_email_marketing', 'is_erased', 'has_invalid_email', 'has_invalid_phone',
        'has_unrecognized_country', 'has_invalid_accepts_email_marketing', 'has_invalid_created_at',
        'has_invalid_updated_at', 'created_at', 'updated_at',
    ],
    erasable=[
        'email', 'phone', 'first_name', 'last_name', 'country', 'city',
    ],
) }}
