with

tracks as (
    select * from {{ ref('base_events__tracks') }}
    where _disposition = 'staged'
),

final as (
    select
        tracks.message_id,
        tracks.anonymous_id,
        tracks.user_id,
        tracks.event_name,
        {{ unless_erased('tracks.properties') }} as properties,
        {{ is_erased() }} as is_erased,
        tracks.has_invalid_properties,
        tracks.event_at,
        tracks._landed_file as landed_file
    from tracks
    {{ left_join_erased('events/tracks', 'tracks.message_id') }}
)

select * from final
