with

identifies as (
    select * from {{ ref('base_events__identifies') }}
    where _disposition = 'staged'
),

final as (
    select
        identifies.message_id,
        identifies.anonymous_id,
        identifies.user_id,
        {{ unless_erased('identifies.email') }} as email,
        {{ unless_erased('identifies.traits') }} as traits,
        {{ is_erased() }} as is_erased,
        identifies.has_invalid_email,
        identifies.has_invalid_traits,
        identifies.identified_at,
        identifies._landed_file as landed_file
    from identifies
    {{ left_join_erased('events/identifies', 'identifies.message_id') }}
)

select * from final
