with

contacts as (
    select * from {{ ref('base_crm__contacts') }}
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
    {{ left_join_erased('crm/contacts', 'contacts.contact_id') }}
)

select * from final
