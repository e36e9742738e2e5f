{#-
    Does being in a segment (and so receiving its sends) change behaviour? Per segment, the
    members who entered at least lift_conversion_days before as_of (so their window is
    complete) are split into treated and holdout; a member converts when they purchase within
    lift_conversion_days of entering. Absolute lift = treated rate - holdout rate, with a 95%
    normal-approximation interval; relative lift = treated / holdout - 1, with a 95% interval
    from the log of the rate ratio (delta method). Intervals are null when a group is empty or
    a rate is 0.
-#}
with

history as (
    select * from {{ ref('segment_membership_history') }}
    where entered_at <= {{ dbt.dateadd('day', -1 * var('lift_conversion_days'), as_of()) }}
),

purchases as (
    select * from {{ ref('int_traits__customer_orders') }}
    where is_purchase
),

entries as (
    select
        history.segment_name,
        history.customer_id,
        history.entered_at,
        history.is_holdout,
        count(purchases.order_id) > 0 as has_converted
    from history
    left join purchases
        on
            history.customer_id = purchases.customer_id
            and history.entered_at < purchases.ordered_at
            and {{ dbt.dateadd('day', var('lift_conversion_days'), 'history.entered_at') }}
            >= purchases.ordered_at
    group by
        history.segment_name,
        history.customer_id,
        history.entered_at,
        history.is_holdout
),

groups as (
    select
        segment_name,
        count(case when not is_holdout then 1 end) as treated_entries,
        count(case when not is_holdout and has_converted then 1 end) as treated_conversions,
        count(case when is_holdout then 1 end) as holdout_entries,
        count(case when is_holdout and has_converted then 1 end) as holdout_conversions
    from entries
    group by segment_name
),

rates as (
    select
        *,
        case
            when treated_entries > 0 then cast(treated_conversions as double) / treated_entries
        end as treated_rate,
        case
            when holdout_entries > 0 then cast(holdout_conversions as double) / holdout_entries
        end as holdout_rate
    from groups
),

intervals as (
    select
        *,
        treated_rate - holdout_rate as absolute_lift,
        1.96 * sqrt(
            treated_rate * (1 - treated_rate) / nullif(treated_entries, 0)
            + holdout_rate * (1 - holdout_rate) / nullif(holdout_entries, 0)
        ) as absolute_margin,
        case
            when treated_rate > 0 and holdout_rate > 0 then
                1.96 * sqrt(
                    (1 - treated_rate) / (treated_entries * treated_rate)
                    + (1 - holdout_rate) / (holdout_entries * holdout_rate)
                )
        end as log_ratio_margin
    from rates
),

final as (
    select
        segment_name,
        {{ var('lift_conversion_days') }} as conversion_window_days,
        treated_entries,
        treated_conversions,
        treated_rate,
        holdout_entries,
        holdout_conversions,
        holdout_rate,
        absolute_lift,
        absolute_lift - absolute_margin as absolute_lift_lower_95,
        absolute_lift + absolute_margin as absolute_lift_upper_95,
        case when holdout_rate > 0 then treated_rate / holdout_rate - 1 end as relative_lift,
        case
            when log_ratio_margin is not null
                then treated_rate / holdout_rate * exp(-log_ratio_margin) - 1
        end as relative_lift_lower_95,
        case
            when log_ratio_margin is not null
                then treated_rate / holdout_rate * exp(log_ratio_margin) - 1
        end as relative_lift_upper_95
    from intervals
)

select * from final
