{#- Deletion requests keep only the hashed identifier: the request itself must not hold PII. -#}
with

requests as (
    select * from {{ ref('base_privacy__deletion_requests') }}
    where _disposition = 'staged'
),

final as (
    select
        deletion_request_id,
        identifier_type,
        {{ identifier_key('identifier_type', 'identifier_value') }} as identifier_key,
        requested_at,
        _landed_file as landed_file
    from requests
)

select * from final
