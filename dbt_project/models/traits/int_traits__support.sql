{#- Support load and satisfaction per customer as of as_of. -#}
with

tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where created_at <= {{ as_of() }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where record_source = 'support/tickets'
),

final as (
    select
        record_customers.customer_id,
        count(*) as tickets_count,
        count(
            case when tickets.created_at > {{ dbt.dateadd('day', -90, as_of()) }} then 1 end
        ) as tickets_90d,
        count(case when tickets.status in ('open', 'pending') then 1 end) as open_tickets_count,
        avg(tickets.satisfaction_score) as avg_satisfaction_score
    from tickets
    inner join record_customers on tickets.ticket_id = record_customers.record_key
    group by record_customers.customer_id
)

select * from final
