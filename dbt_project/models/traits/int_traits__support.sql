{{
    config(
        as_of_windows={'tickets': [0, 90]},
    )
}}

{#-
    Support load and satisfaction per customer as of as_of. Incremental over the affected
    customers (macros/as_of_windows.sql).
-#}
{%- set inputs = model_inputs(
    ref('int_identity__identifier_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__record_customers'),
    ref('stg_support__tickets')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

tickets as (
    select * from {{ ref('stg_support__tickets') }}
    where {{ as_of_cut('tickets', 'created_at') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where
        record_source = 'support/tickets'
    {% if is_incremental() %}
        and customer_id in (select affected.customer_id from affected)
    {% endif %}
),

final as (
    select
        record_customers.customer_id,
        count(*) as tickets_count,
        count(
            case when {{ as_of_window('tickets', 'tickets.created_at', 90) }} then 1 end
        ) as tickets_90d,
        count(case when tickets.status in ('open', 'pending') then 1 end) as open_tickets_count,
        avg(tickets.satisfaction_score) as avg_satisfaction_score,
        {{ run_stamp() }} as changed_at
    from tickets
    inner join record_customers on tickets.ticket_id = record_customers.record_key
    group by record_customers.customer_id
)

select * from final
