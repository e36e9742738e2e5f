{#-
    One row per customer: every trait of the contract, computed as of the `as_of` var (default:
    the run's start) so a run can be reproduced. See customer_traits.yml for each trait.

    lifecycle_stage, first match wins:
      prospect  no purchase yet
      new       first purchase less than lifecycle_new_days ago
      loyal     at least lifecycle_loyal_min_orders purchases, the last within lifecycle_active_days
      active    last purchase within lifecycle_active_days
      at_risk   last purchase within lifecycle_at_risk_days
      lapsed    last purchase longer ago

    clv_tier and churn_risk_tier band the predictions among customers with a purchase:
    top = highest 20%, bottom = lowest 20%, middle = the rest (percent rank).

    The predictions: on DuckDB the dbt Python models of models/predictive; dbt-spark runs
    Python models only on Databricks, so on Spark those models are disabled and `cdp predict`
    trains and scores with the same code through the Spark session, writing the same tables
    (the `predictive` source; see cdp/predictive/warehouse.py).
-#}
{%- set predictions_from_source = target.type == 'spark' -%}
with

customers as (
    select * from {{ ref('customers') }}
),

order_metrics as (
    select * from {{ ref('int_traits__order_metrics') }}
),

rfm as (
    select * from {{ ref('int_traits__rfm') }}
),

email_engagement as (
    select * from {{ ref('int_traits__email_engagement') }}
),

web_activity as (
    select * from {{ ref('int_traits__web_activity') }}
),

top_category as (
    select * from {{ ref('int_traits__top_category') }}
),

support as (
    select * from {{ ref('int_traits__support') }}
),

clv as (
    select * from {{
        source('predictive', 'customer_clv') if predictions_from_source else ref('customer_clv')
    }}
),

churn as (
    select * from {{
        source('predictive', 'customer_churn') if predictions_from_source else ref('customer_churn')
    }}
),

clusters as (
    select * from {{
        source('predictive', 'customer_clusters') if predictions_from_source else ref('customer_clusters')
    }}
),

predictive_tiers as (
    select
        clv.customer_id,
        {{ predictive_tier('percent_rank() over (order by clv.predicted_clv)') }} as clv_tier,
        {{ predictive_tier('percent_rank() over (order by churn.churn_risk)') }}
            as churn_risk_tier
    from clv
    left join churn on clv.customer_id = churn.customer_id
),

final as (
    select
        customers.customer_id,
        {{ as_of() }} as as_of,
        coalesce(order_metrics.orders_count, 0) as orders_count,
        cast(coalesce(order_metrics.lifetime_revenue, 0) as decimal(38, 2)) as lifetime_revenue,
        cast(order_metrics.avg_order_value as double) as avg_order_value,
        order_metrics.first_order_at,
        order_metrics.last_order_at,
        order_metrics.days_since_last_order,
        order_metrics.days_since_first_order,
        coalesce(order_metrics.orders_last_90_days, 0) as orders_last_90_days,
        cast(coalesce(order_metrics.revenue_last_365_days, 0) as decimal(38, 2))
            as revenue_last_365_days,
        cast(coalesce(order_metrics.discounted_orders_share, 0) as double)
            as discounted_orders_share,
        coalesce(order_metrics.refunded_orders_count, 0) as refunded_orders_count,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        rfm.rfm_segment,
        coalesce(email_engagement.email_engagement_score, 0) as email_engagement_score,
        coalesce(email_engagement.email_opens_30d, 0) as email_opens_30d,
        coalesce(email_engagement.email_opens_90d, 0) as email_opens_90d,
        coalesce(email_engagement.email_clicks_30d, 0) as email_clicks_30d,
        coalesce(email_engagement.email_clicks_90d, 0) as email_clicks_90d,
        email_engagement.last_email_engagement_at,
        coalesce(email_engagement.has_unsubscribed, false) as has_unsubscribed,
        coalesce(email_engagement.has_bounced_or_complained, false) as has_bounced_or_complained,
        coalesce(web_activity.sessions_7d, 0) as sessions_7d,
        coalesce(web_activity.sessions_30d, 0) as sessions_30d,
        coalesce(web_activity.sessions_90d, 0) as sessions_90d,
        coalesce(web_activity.product_views_7d, 0) as product_views_7d,
        coalesce(web_activity.product_views_30d, 0) as product_views_30d,
        coalesce(web_activity.product_views_90d, 0) as product_views_90d,
        coalesce(web_activity.products_added_30d, 0) as products_added_30d,
        web_activity.last_seen_on_site_at,
        top_category.top_category,
        coalesce(support.tickets_count, 0) as tickets_count,
        coalesce(support.tickets_90d, 0) as tickets_90d,
        coalesce(support.open_tickets_count, 0) as open_tickets_count,
        support.avg_satisfaction_score,
        case
            when coalesce(order_metrics.orders_count, 0) = 0 then 'prospect'
            when order_metrics.days_since_first_order < {{ var('lifecycle_new_days') }} then 'new'
            when
                order_metrics.days_since_last_order <= {{ var('lifecycle_active_days') }}
                and order_metrics.orders_count >= {{ var('lifecycle_loyal_min_orders') }}
                then 'loyal'
            when order_metrics.days_since_last_order <= {{ var('lifecycle_active_days') }}
                then 'active'
            when order_metrics.days_since_last_order <= {{ var('lifecycle_at_risk_days') }}
                then 'at_risk'
            else 'lapsed'
        end as lifecycle_stage,
        cast(churn.churn_risk as double) as churn_risk,
        predictive_tiers.churn_risk_tier,
        cast(clv.expected_purchases_12m as double) as expected_purchases_12m,
        cast(clv.predicted_clv as double) as predicted_clv,
        predictive_tiers.clv_tier,
        cast(clusters.cluster_id as bigint) as cluster_id,
        cast(clusters.cluster_name as {{ dbt.type_string() }}) as cluster_name,
        customers.consent_email_marketing,
        customers.consent_sms_marketing,
        customers.consent_ads_personalization,
        customers.consent_data_sale_sharing,
        customers.is_erased
    from customers
    left join order_metrics on customers.customer_id = order_metrics.customer_id
    left join rfm on customers.customer_id = rfm.customer_id
    left join email_engagement on customers.customer_id = email_engagement.customer_id
    left join web_activity on customers.customer_id = web_activity.customer_id
    left join top_category on customers.customer_id = top_category.customer_id
    left join support on customers.customer_id = support.customer_id
    left join clv on customers.customer_id = clv.customer_id
    left join churn on customers.customer_id = churn.customer_id
    left join clusters on customers.customer_id = clusters.customer_id
    left join predictive_tiers on customers.customer_id = predictive_tiers.customer_id
)

select * from final
