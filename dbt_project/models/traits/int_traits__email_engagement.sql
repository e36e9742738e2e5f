{{
    config(
        as_of_windows={'email_events': [0]},
        as_of_day_counts=true,
    )
}}

{#-
    Email engagement as of as_of. email_engagement_score = sum over opens (weight 1) and
    clicks (weight 2) of 0.5 ^ (days ago / engagement_half_life_days): recent engagement
    counts most, old engagement fades without a hard cut-off. Each event's weight is rounded to
    6 decimal places and the weights are added exactly (macros/deterministic_sum.sql), so two
    builds of the same data give the same score to the last digit. Incremental over the affected
    customers (macros/as_of_windows.sql).
-#}
{%- set event_weight -%}
    case
        when event_type = 'open' then 1.0
        when event_type = 'click' then 2.0
        else 0.0
    end
    * power(0.5, cast(days_ago as double) / {{ var('engagement_half_life_days') }})
{%- endset %}
{%- set inputs = model_inputs(
    ref('int_identity__identifier_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__record_customers'),
    ref('stg_email__events')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where
        record_source = 'email/events'
    {% if is_incremental() %}
        and customer_id in (select affected.customer_id from affected)
    {% endif %}
),

email_events as (
    select * from {{ ref('stg_email__events') }}
    where {{ as_of_cut('email_events', 'occurred_at') }}
),

customer_events as (
    select
        record_customers.customer_id,
        email_events.event_type,
        email_events.occurred_at,
        {{ days_before_as_of('email_events.occurred_at') }} as days_ago
    from email_events
    inner join record_customers on email_events.email_event_id = record_customers.record_key
),

final as (
    select
        customer_id,
        {{ exact_sum(event_weight) }} as email_engagement_score,
        count(case when event_type = 'open' and days_ago < 30 then 1 end) as email_opens_30d,
        count(case when event_type = 'open' and days_ago < 90 then 1 end) as email_opens_90d,
        count(case when event_type = 'click' and days_ago < 30 then 1 end) as email_clicks_30d,
        count(case when event_type = 'click' and days_ago < 90 then 1 end) as email_clicks_90d,
        max(case when event_type in ('open', 'click') then occurred_at end)
            as last_email_engagement_at,
        count(case when event_type = 'unsubscribe' then 1 end) > 0 as has_unsubscribed,
        count(case when event_type in ('bounce', 'spam_report') then 1 end) > 0
            as has_bounced_or_complained,
        {{ run_stamp() }} as changed_at
    from customer_events
    group by customer_id
)

select * from final
