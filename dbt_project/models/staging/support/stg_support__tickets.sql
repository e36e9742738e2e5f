{{
    config(
        materialized='incremental',
        unique_key='ticket_id',
    )
}}

{#
    Incremental (docs/adr/0002): only landing files not read before. A ticket's later state
    competes with the state already staged by coalesce(solved_at, created_at), then by file,
    exactly as in a full build; rows of people erased since they were staged are rewritten
    masked.
#}
with

landed_tickets as (
    select * from {{ ref('base_support__tickets') }}
    where {{ landed_file_is_new('_landed_file') }}
),

{% if is_incremental() %}
    staged_before as (
        select * from {{ this }}
    ),

    erased_records as (
        select record_key from {{ ref('int_privacy__erased_records') }}
        where record_source = 'support/tickets'
    ),
{% endif %}

candidates as (
    select
        ticket_id,
        requester_email,
        channel,
        priority,
        status,
        satisfaction_score,
        has_invalid_email,
        has_invalid_solved_at,
        has_invalid_satisfaction_score,
        created_at,
        solved_at,
        _quarantine_reason,
        _landed_file,
        _row_hash
    from landed_tickets

    {% if is_incremental() %}
        union all

        select
            ticket_id,
            requester_email,
            channel,
            priority,
            status,
            satisfaction_score,
            has_invalid_email,
            has_invalid_solved_at,
            has_invalid_satisfaction_score,
            created_at,
            solved_at,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason,
            landed_file as _landed_file,
            null as _row_hash
        from staged_before
        where
            ticket_id in (select landed_tickets.ticket_id from landed_tickets)
            or (
                not is_erased
                and ticket_id in (select erased_records.record_key from erased_records)
            )
    {% endif %}
),

{{ landing_dispositions('candidates', 'ticket_id', 'coalesce(solved_at, created_at)') }},

tickets as (
    select * from with_dispositions
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
    {{ left_join_erased(ref('int_privacy__erased_records'), 'support/tickets', 'tickets.ticket_id') }}
)

select * from final
