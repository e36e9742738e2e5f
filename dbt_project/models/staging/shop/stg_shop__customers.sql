{{
    config(
        materialized='incremental',
        unique_key='customer_id',
    )
}}

{#
    Incremental (docs/adr/0002): only landing files not read before. A new version of an account
    competes with the version already staged by updated_at, then by file, exactly as in a full
    build, so a late stale version never wins; rows of people erased since they were staged
    are rewritten masked.
#}
with

landed_customers as (
    select * from {{ ref('base_shop__customers') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'shop/customers'
    ),
{% endif %}

candidates as (
    select
        customer_id,
        email,
        phone,
        first_name,
        last_name,
        country,
        city,
        accepts_email_marketing,
        has_invalid_email,
        has_invalid_phone,
        has_unrecognized_country,
        has_invalid_accepts_email_marketing,
        has_invalid_created_at,
        has_invalid_updated_at,
        created_at,
        updated_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_customers

    {% if is_incremental() %}
        union all

        select
            customer_id,
            email,
            phone,
            first_name,
            last_name,
            country,
            city,
            accepts_email_marketing,
            has_invalid_email,
            has_invalid_phone,
            has_unrecognized_country,
            has_invalid_accepts_email_marketing,
            has_invalid_created_at,
            has_invalid_updated_at,
            created_at,
            updated_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            customer_id in (select landed_customers.customer_id from landed_customers)
            or (
                not is_erased
                and customer_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'customer_id', 'updated_at') }},

customers as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        customers.customer_id,
        {{ unless_erased('customers.email') }} as email,
        {{ unless_erased('customers.phone') }} as phone,
        {{ unless_erased('customers.first_name') }} as first_name,
        {{ unless_erased('customers.last_name') }} as last_name,
        {{ unless_erased('customers.country') }} as country,
        {{ unless_erased('customers.city') }} as city,
        customers.accepts_email_marketing,
        {{ is_erased() }} as is_erased,
        customers.has_invalid_email,
        customers.has_invalid_phone,
        customers.has_unrecognized_country,
        customers.has_invalid_accepts_email_marketing,
        customers.has_invalid_created_at,
        customers.has_invalid_updated_at,
        customers.created_at,
        customers.updated_at,
        customers._landed_file as landed_file
    from customers
    {{ left_join_erased(ref('int_privacy__erased_records'), 'shop/customers', 'customers.customer_id') }}
)

select * from final
