{{ config(
    materialized='incremental',
    incremental_strategy='append',
    full_refresh=false,
    on_schema_change='fail',
) }}

{#
    The record of every erasure applied: for each deletion request, the records of each
    customer it was applied to, with the run that applied it. Append-only and never rebuilt
    from scratch (full_refresh: false), so what later data does cannot undo an erasure: a
    request by a phone without a country code that matched one customer and matches two
    once another lands, a requested email that later becomes suppressed (over-shared), or a
    request row that is no longer landed, still erase the customer they were applied to.
    int_privacy__erased_customers erases every customer holding one of these records now, so
    the erasure follows the person through merges (and, conservatively, into both halves of
    a split).

    A request applies, as before, to the customer its identifier resolves to
    (int_identity__identifier_customers), or, for a phone without a country code, to the one
    customer int_privacy__national_phone_matches finds for it. Each run adds the records of
    applied customers that are not recorded for that request yet (a customer's new records
    too). Keys and times only: no personal data.
#}

with

requests as (
    select * from {{ ref('stg_privacy__deletion_requests') }}
),

national_phone_matches as (
    select * from {{ ref('int_privacy__national_phone_matches') }}
    where landing_table = 'privacy/deletion_requests' and is_current
),

applications as (
    select
        requests.deletion_request_id,
        requests.requested_at,
        identifier_customers.customer_id
    from requests
    inner join {{ ref('int_identity__identifier_customers') }} as identifier_customers
        on requests.identifier_key = identifier_customers.identifier_key
    left join national_phone_matches
        on requests.deletion_request_id = national_phone_matches.record_key
    where national_phone_matches.record_key is null

    union all

    select
        requests.deletion_request_id,
        requests.requested_at,
        national_phone_matches.customer_id
    from requests
    inner join national_phone_matches
        on requests.deletion_request_id = national_phone_matches.record_key
    where national_phone_matches.is_applied
),

applied_records as (
    select distinct
        applications.deletion_request_id,
        applications.requested_at,
        applications.customer_id,
        record_customers.record_source,
        record_customers.record_key
    from applications
    inner join {{ ref('int_identity__record_customers') }} as record_customers
        on applications.customer_id = record_customers.customer_id
),

final as (
    select
        applied_records.deletion_request_id,
        applied_records.requested_at,
        applied_records.customer_id,
        applied_records.record_source,
        applied_records.record_key,
        {{ run_stamp() }} as applied_at
    from applied_records
    {% if is_incremental() %}
        left join {{ this }} as recorded
            on
                applied_records.deletion_request_id = recorded.deletion_request_id
                and applied_records.record_source = recorded.record_source
                and applied_records.record_key = recorded.record_key
        where recorded.record_key is null
    {% endif %}
)

select * from final
