{{
    config(
        materialized='incremental',
        unique_key='message_id',
    )
}}

{#
    Incremental (docs/adr/0002): a run reads only the landing files not read before. Their rows
    compete with the row already staged for the same message_id, so a re-delivery in a later
    file is ranked exactly as in a full build; rows of people erased since they were staged
    are rewritten masked.
#}
with

landed_tracks as (
    select * from {{ ref('base_events__tracks') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'events/tracks'
    ),
{% endif %}

candidates as (
    select
        message_id,
        anonymous_id,
        user_id,
        event_name,
        event_at,
        properties,
        has_invalid_properties,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_tracks

    {% if is_incremental() %}
        union all

        select
            message_id,
            anonymous_id,
            user_id,
            event_name,
            event_at,
            properties,
            has_invalid_properties,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            message_id in (select landed_tracks.message_id from landed_tracks)
            or (
                not is_erased
                and message_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'message_id') }},

tracks as (
    select * from with_dispositions
    where _disposition = 'staged'
),

final as (
    select
        tracks.message_id,
        {{ unless_erased('tracks.anonymous_id') }} as anonymous_id,
        {{ unless_erased('tracks.user_id') }} as user_id,
        tracks.event_name,
        {{ unless_erased('tracks.properties') }} as properties,
        {{ is_erased() }} as is_erased,
        tracks.has_invalid_properties,
        tracks.event_at,
        tracks._landed_file as landed_file
    from tracks
    {{ left_join_erased(ref('int_privacy__erased_records'), 'events/tracks', 'tracks.message_id') }}
)

select * from final
