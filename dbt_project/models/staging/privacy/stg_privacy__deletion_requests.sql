{{
    config(
        materialized='incremental',
        unique_key='deletion_request_id',
    )
}}

{#
    Deletion requests keep only the hashed identifier: the request itself must not hold PII.
    Incremental like stg_events__tracks (docs/adr/0002): only landing files not read before,
    ranked against the request already staged with the same deletion_request_id (which carries
    its identifier_key, the value itself is never stored). Erasure reads these rows
    (int_privacy__erased_customers), so nothing here is masked.
#}
with

landed_requests as (
    select * from {{ ref('base_privacy__deletion_requests') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),
{% endif %}

candidates as (
    select
        deletion_request_id,
        identifier_type,
        {{ identifier_key('identifier_type', 'identifier_value') }} as identifier_key,
        requested_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_requests

    {% if is_incremental() %}
        union all

        select
            deletion_request_id,
            identifier_type,
            identifier_key,
            requested_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            deletion_request_id in (
                select landed_requests.deletion_request_id from landed_requests
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'deletion_request_id') }},

requests as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        deletion_request_id,
        identifier_type,
        identifier_key,
        requested_at,
        _landed_file as landed_file
    from requests
)

select * from final
