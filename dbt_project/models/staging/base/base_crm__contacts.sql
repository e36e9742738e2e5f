with

source as (
    select * from {{ source('crm', 'contacts') }}
),

parsed as (
    select
        {{ clean_text('source.contact_id') }} as contact_id,
        {{ normalize_email('source.email') }} as email,
        {{ clean_text('source.email') }} is not null as has_email_value,
        {{ phone_parse_columns('source.phone') }},
        {{ clean_text('source.first_name') }} as first_name,
        {{ clean_text('source.last_name') }} as last_name,
        {{ clean_text('source.company') }} as company,
        {{ clean_text('source.job_title') }} as job_title,
        coalesce(record_country.country_code, upper({{ clean_text('source.country') }})) as country,
        record_country.country_code is null
        and {{ clean_text('source.country') }} is not null as has_unrecognized_country,
        {{ clean_text('source.city') }} as city,
        lower({{ clean_text('source.lifecycle_stage') }}) as lifecycle_stage,
        coalesce({{ parse_boolean('source.is_deleted') }}, false) as is_deleted,
        {{ is_unparseable('source.is_deleted', parse_boolean('source.is_deleted')) }}
            as has_invalid_is_deleted,
        {{ parse_timestamp_utc('source.created_at') }} as created_at,
        {{ is_unparseable('source.created_at', parse_timestamp_utc('source.created_at')) }}
            as has_invalid_created_at,
        {{ parse_timestamp_utc('source.updated_at') }} as updated_at,
        {{ is_unparseable('source.updated_at', parse_timestamp_utc('source.updated_at')) }}
            as has_invalid_updated_at,
        source._landed_file,
        {{ row_hash('source', landing_table('crm/contacts').columns) }} as _row_hash
    from source
    {{ join_country(ref('country_calling_codes'), 'record_country', 'source.country') }}
    cross join {{ default_phone_country(ref('country_calling_codes')) }} as default_country
),

normalized as (
    select
        *,
        {{ e164_from_parsed() }} as phone
    from parsed
),

validated as (
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
        created_at,
        coalesce(updated_at, created_at) as updated_at,
        has_email_value and email is null as has_invalid_email,
        has_phone_value and phone is null as has_invalid_phone,
        has_unrecognized_country,
        has_invalid_is_deleted,
        has_invalid_created_at,
        has_invalid_updated_at,
        case
            when contact_id is null then 'missing contact_id'
            when updated_at is null and created_at is null
                then 'no readable updated_at or created_at'
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from normalized
)

select * from validated
