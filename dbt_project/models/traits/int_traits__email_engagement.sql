{#-
    Email engagement as of as_of. email_engagement_score = sum over opens (weight 1) and
    clicks (weight 2) of 0.5 ^ (days ago / engagement_half_life_days): recent engagement
    counts most, old engagement fades without a hard cut-off.
-#}
with

email_events as (
    select * from {{ ref('stg_email__events') }}
    where occurred_at <= {{ as_of() }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where record_source = 'email/events'
),

customer_events as (
    select
        record_customers.customer_id,
        email_events.event_type,
        email_events.occurred_at,
        {{ days_between('email_events.occurred_at', as_of()) }} as days_ago -- noqa: LT05
    from email_events
    inner join record_customers on email_events.email_event_id = record_customers.record_key
),

final as (
    select
        customer_id,
        sum(
            case
                when event_type = 'open' then 1.0
                when event_type = 'click' then 2.0
                else 0.0
            end
            * power(0.5, cast(days_ago as double) / {{ var('engagement_half_life_days') }})
        ) as email_engagement_score,
        count(case when event_type = 'open' and days_ago < 30 then 1 end) as email_opens_30d,
        count(case when event_type = 'open' and days_ago < 90 then 1 end) as email_opens_90d,
        count(case when event_type = 'click' and days_ago < 30 then 1 end) as email_clicks_30d,
        count(case when event_type = 'click' and days_ago < 90 then 1 end) as email_clicks_90d,
        max(case when event_type in ('open', 'click') then occurred_at end)
            as last_email_engagement_at,
        count(case when event_type = 'unsubscribe' then 1 end) > 0 as has_unsubscribed,
        count(case when event_type in ('bounce', 'spam_report') then 1 end) > 0
            as has_bounced_or_complained
    from customer_events
    group by customer_id
)

select * from final
