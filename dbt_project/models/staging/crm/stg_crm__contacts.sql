{{
    config(
        materialized='incremental',
        unique_key='contact_id',
    )
}}

{#
    Incremental (docs/adr/0002): only landing files not read before. A new version of a contact
    competes with the version already staged by updated_at, then by file, exactly as in a full
    build, so a late stale version never wins; rows of people erased since they were staged
    are rewritten masked.
#}
with

landed_contacts as (
    select * from {{ ref('base_crm__contacts') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'crm/contacts'
    ),
{% endif %}

candidates as (
    select
        contact_id,
        email,
        phone,
        first_name,
        last_name,
        company,
        job_title,
        country,
        city,
        lifecycle_stage,
        is_deleted,
        has_invalid_email,
        has_invalid_phone,
        has_unrecognized_country,
        has_invalid_is_deleted,
        has_invalid_created_at,
        has_invalid_updated_at,
        created_at,
        updated_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_contacts

    {% if is_incremental() %}
        union all

        select
            contact_id,
            email,
            phone,
            first_name,
            last_name,
            company,
            job_title,
            country,
            city,
            lifecycle_stage,
            is_deleted,
            has_invalid_email,
            has_invalid_phone,
            has_unrecognized_country,
            has_invalid_is_deleted,
            has_invalid_created_at,
            has_invalid_updated_at,
            created_at,
            updated_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            contact_id in (select landed_contacts.contact_id from landed_contacts)
            or (
                not is_erased
                and contact_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'contact_id', 'updated_at') }},

contacts as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        contacts.contact_id,
        {{ unless_erased('contacts.email') }} as email,
        {{ unless_erased('contacts.phone') }} as phone,
        {{ unless_erased('contacts.first_name') }} as first_name,
        {{ unless_erased('contacts.last_name') }} as last_name,
        {{ unless_erased('contacts.company') }} as company,
        {{ unless_erased('contacts.job_title') }} as job_title,
        {{ unless_erased('contacts.country') }} as country,
        {{ unless_erased('contacts.city') }} as city,
        contacts.lifecycle_stage,
        contacts.is_deleted,
        {{ is_erased() }} as is_erased,
        contacts.has_invalid_email,
        contacts.has_invalid_phone,
        contacts.has_unrecognized_country,
        contacts.has_invalid_is_deleted,
        contacts.has_invalid_created_at,
        contacts.has_invalid_updated_at,
        contacts.created_at,
        contacts.updated_at,
        contacts._landed_file as landed_file
    from contacts
    {{ left_join_erased(ref('int_privacy__erased_records'), 'crm/contacts', 'contacts.contact_id') }}
)

select * from final
