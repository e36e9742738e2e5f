{#-
    RFM scores 1-5 (5 best) over customers with at least one purchase. A score is the
    quintile of the customer's percent rank, so equal values always get the same score (ties
    take the lower quintile): recency by days since the last purchase (fewer is better),
    frequency by purchases, monetary by lifetime revenue. The named cell comes from the
    rfm_segments seed (recency x frequency grid).
-#}
with

order_metrics as (
    select * from {{ ref('int_traits__order_metrics') }}
    where orders_count > 0
),

cells as (
    select * from {{ ref('rfm_segments') }}
),

ranked as (
    select
        customer_id,
        percent_rank() over (order by days_since_last_order desc) as recency_rank,
        percent_rank() over (order by orders_count) as frequency_rank,
        percent_rank() over (order by lifetime_revenue) as monetary_rank
    from order_metrics
),

scored as (
    select
        customer_id,
        least(5, 1 + cast(floor(recency_rank * 5) as {{ dbt.type_int() }})) as recency_score,
        least(5, 1 + cast(floor(frequency_rank * 5) as {{ dbt.type_int() }})) as frequency_score,
        least(5, 1 + cast(floor(monetary_rank * 5) as {{ dbt.type_int() }})) as monetary_score
    from ranked
),

final as (
    select
        scored.customer_id,
        scored.recency_score,
        scored.frequency_score,
        scored.monetary_score,
        cells.rfm_segment
    from scored
    left join cells
        on
            scored.recency_score = cells.recency_score
            and scored.frequency_score = cells.frequency_score
)

select * from final
