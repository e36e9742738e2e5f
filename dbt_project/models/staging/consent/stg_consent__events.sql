{{
    config(
        materialized='incremental',
        unique_key='consent_event_id',
    )
}}

{#
    Incremental like stg_events__tracks (docs/adr/0002): only landing files not read before,
    ranked against the row already staged for the same consent_event_id; rows of people erased
    since they were staged are rewritten masked. `identifier_key` is computed once, from the
    unmasked value, and carried with the staged row (its identifier_value may be masked).
#}
with

landed_consent_events as (
    select * from {{ ref('base_consent__events') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'consent/events'
    ),
{% endif %}

candidates as (
    select
        consent_event_id,
        identifier_type,
        identifier_value,
        {{ identifier_key('identifier_type', 'identifier_value') }} as identifier_key,
        purpose,
        consent_status,
        consent_source,
        recorded_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_consent_events

    {% if is_incremental() %}
        union all

        select
            consent_event_id,
            identifier_type,
            identifier_value,
            identifier_key,
            purpose,
            consent_status,
            consent_source,
            recorded_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            consent_event_id in (
                select landed_consent_events.consent_event_id from landed_consent_events
            )
            or (
                not is_erased
                and consent_event_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'consent_event_id') }},

consent_events as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        consent_events.consent_event_id,
        consent_events.identifier_type,
        {{ unless_erased('consent_events.identifier_value') }} as identifier_value,
        consent_events.identifier_key,
        consent_events.purpose,
        consent_events.consent_status,
        consent_events.consent_source,
        {{ is_erased() }} as is_erased,
        consent_events.recorded_at,
        consent_events._landed_file as landed_file
    from consent_events
    {{ left_join_erased(
        ref('int_privacy__erased_records'), 'consent/events', 'consent_events.consent_event_id'
    ) }}
)

select * from final
