{{
    config(
        materialized='incremental',
        unique_key='email_event_id',
    )
}}

{#
    Incremental like stg_events__tracks (docs/adr/0002): only landing files not read before,
    ranked against the row already staged for the same event_id; rows of people erased since
    they were staged are rewritten masked.
#}
with

landed_email_events as (
    select * from {{ ref('base_email__events') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'email/events'
    ),
{% endif %}

candidates as (
    select
        email_event_id,
        email,
        campaign_id,
        event_type,
        occurred_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_email_events

    {% if is_incremental() %}
        union all

        select
            email_event_id,
            email,
            campaign_id,
            event_type,
            occurred_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            email_event_id in (select landed_email_events.email_event_id from landed_email_events)
            or (
                not is_erased
                and email_event_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'email_event_id') }},

email_events as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        email_events.email_event_id,
        {{ unless_erased('email_events.email') }} as email,
        email_events.campaign_id,
        email_events.event_type,
        {{ is_erased() }} as is_erased,
        email_events.occurred_at,
        email_events._landed_file as landed_file
    from email_events
    {{ left_join_erased(ref('int_privacy__erased_records'), 'email/events', 'email_events.email_event_id') }}
)

select * from final
