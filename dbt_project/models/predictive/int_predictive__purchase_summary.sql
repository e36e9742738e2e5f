{#-
    Per-customer purchase history in the form repeat-buyer models need, in weeks, as of
    as_of. Purchases on the same day count as one transaction (the papers' convention):
      frequency       repeat purchase days (all purchase days less the first)
      recency_weeks   from the first to the last purchase day (0 without a repeat)
      age_weeks       from the first purchase day to as_of
      monetary_value  average revenue of the repeat purchase days (null without a repeat)
-#}
with

purchases as (
    select * from {{ ref('int_traits__customer_orders') }}
    where is_purchase
),

purchase_days as (
    select
        customer_id,
        {{ dbt.date_trunc('day', 'ordered_at') }} as purchase_day,
        sum(net_revenue) as day_revenue
    from purchases
    group by customer_id, {{ dbt.date_trunc('day', 'ordered_at') }}
),

ranked as (
    select
        *,
        row_number() over (partition by customer_id order by purchase_day) as day_number,
        min(purchase_day) over (partition by customer_id) as first_purchase_day
    from purchase_days
),

final as (
    select
        customer_id,
        count(*) - 1 as frequency,
        {{ dbt.datediff('min(first_purchase_day)', 'max(purchase_day)', 'day') }} / 7.0 -- noqa: LT05
            as recency_weeks,
        {{ dbt.datediff('min(first_purchase_day)', as_of(), 'day') }} / 7.0 as age_weeks, -- noqa: LT05
        avg(case when day_number > 1 then day_revenue end) as monetary_value
    from ranked
    group by customer_id
)

select * from final
