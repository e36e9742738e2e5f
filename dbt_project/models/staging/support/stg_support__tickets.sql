with

tickets as (
    select * from {{ ref('base_support__tickets') }}
    where _disposition = 'staged'
),

final as (
    select
        tickets.ticket_id,
        {{ unless_erased('tickets.requester_email') }} as requester_email,
        tickets.channel,
        tickets.priority,
        tickets.status,
        tickets.satisfaction_score,
        {{ is_erased() }} as is_erased,
        tickets.has_invalid_email,
        tickets.has_invalid_solved_at,
        tickets.has_invalid_satisfaction_score,
        tickets.created_at,
        tickets.solved_at,
        tickets._landed_file as landed_file
    from tickets
    {{ left_join_erased('support/tickets', 'tickets.ticket_id') }}
)

select * from final
