{#-
    Per-customer purchase history in the form repeat-buyer models need, in weeks, as of
    as_of. Purchases on the same day count as one transaction (the papers' convention):
      frequency       repeat purchase days (all purchase days less the first)
      recency_weeks   from the first to the last purchase day (0 without a repeat)
      age_weeks       from the first purchase day to as_of
      monetary_value  average revenue of the repeat purchase days (null without a repeat)
    Divisions are in double precision on every engine: Spark would keep a decimal with six
    places, and the Gamma-Gamma fit moves with the last digits of monetary_value.
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
        cast({{ dbt.datediff('min(first_purchase_day)', 'max(purchase_day)', 'day') }} as double) / 7 -- noqa: LT05
            as recency_weeks,
        cast({{ dbt.datediff('min(first_purchase_day)', as_of(), 'day') }} as double) / 7 as age_weeks, -- noqa: LT05
        -- the average of cents, divided once in double precision: what DuckDB's avg() of this
        -- decimal gives, and the same double on every engine
        cast(sum(case when day_number > 1 then day_revenue * 100 end) as double)
        / nullif(count(case when day_number > 1 then day_revenue end) * 100, 0) as monetary_value
    from ranked
    group by customer_id
)

select * from final
