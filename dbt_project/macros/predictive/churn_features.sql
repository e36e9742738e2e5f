{#-
    The churn model's features for customers with a purchase by `reference_time`, computed as
    of that time only (nothing after it leaks in): order recency, frequency and value, and
    email, web and support activity in the 30/90 days before it. Training evaluates them at
    the cutoff (as_of - churn_window_days), scoring at as_of. `customer_orders` and
    `customer_events` are the relations of int_traits__customer_orders and
    int_segments__customer_events.
-#}
{% macro churn_features(customer_orders, customer_events, reference_time) -%}
    with

    purchases as (
        select
            customer_id,
            ordered_at,
            net_revenue
        from {{ customer_orders }}
        where is_purchase and ordered_at <= {{ reference_time }}
    ),

    events as (
        select
            customer_id,
            event_name,
            occurred_at
        from {{ customer_events }}
        where
            occurred_at <= {{ reference_time }}
            and occurred_at > {{ dbt.dateadd('day', -90, reference_time) }}
    ),

    order_features as (
        select
            customer_id,
            count(*) as orders_count,
            sum(net_revenue) as lifetime_revenue,
            -- a double that is the same on every engine (what DuckDB's avg() gives here;
            -- Spark's avg() of a decimal keeps six places, and the churn model would move)
            cast(sum(net_revenue) as double) / count(net_revenue) as avg_order_value,
            {{ days_between('max(ordered_at)', reference_time) }} as days_since_last_order,
            {{ days_between('min(ordered_at)', reference_time) }} as days_since_first_order,
            count(
                case when ordered_at > {{ dbt.dateadd('day', -90, reference_time) }} then 1 end
            ) as orders_90d
        from purchases
        group by customer_id
    ),

    activity_features as (
        select
            customer_id,
            count(case when event_name = 'Email Opened' then 1 end) as email_opens_90d,
            count(case when event_name = 'Email Clicked' then 1 end) as email_clicks_90d,
            count(
                case
                    when
                        event_name = 'Page Viewed'
                        and occurred_at > {{ dbt.dateadd('day', -30, reference_time) }}
                        then 1
                end
            ) as page_views_30d,
            count(case when event_name = 'Product Viewed' then 1 end) as product_views_90d,
            count(case when event_name = 'Product Added' then 1 end) as products_added_90d,
            count(case when event_name = 'Ticket Created' then 1 end) as tickets_90d
        from events
        group by customer_id
    )

    select
        order_features.customer_id,
        order_features.orders_count,
        cast(order_features.lifetime_revenue as double) as lifetime_revenue,
        cast(order_features.avg_order_value as double) as avg_order_value,
        order_features.days_since_last_order,
        order_features.days_since_first_order,
        order_features.orders_90d,
        coalesce(activity_features.email_opens_90d, 0) as email_opens_90d,
        coalesce(activity_features.email_clicks_90d, 0) as email_clicks_90d,
        coalesce(activity_features.page_views_30d, 0) as page_views_30d,
        coalesce(activity_features.product_views_90d, 0) as product_views_90d,
        coalesce(activity_features.products_added_90d, 0) as products_added_90d,
        coalesce(activity_features.tickets_90d, 0) as tickets_90d
    from order_features
    left join activity_features on order_features.customer_id = activity_features.customer_id
{%- endmacro %}


{% macro churn_cutoff() -%}
    {{ dbt.dateadd('day', -1 * var('churn_window_days'), as_of()) }}
{%- endmacro %}
