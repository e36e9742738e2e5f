{{
    config(
        as_of_windows={'tracks': [0]},
        as_of_day_counts=true,
    )
}}

{#-
    Web activity as of as_of, from track calls attributed to the customer. A session is a run
    of events on one browser (anonymous_id) with no gap longer than session_gap_minutes;
    sessions and product views are counted in 7/30/90-day windows (whole days before as_of).
    Incremental over the affected customers (macros/as_of_windows.sql).
-#}
{%- set inputs = model_inputs(
    ref('int_identity__identifier_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_identity__record_customers'),
    ref('stg_events__tracks')
) -%}
with

{% if is_incremental() %}
    affected as (
        {{ affected_customers_as_of(inputs) }}
    ),
{% endif %}

tracks as (
    select * from {{ ref('stg_events__tracks') }}
    where {{ as_of_cut('tracks', 'event_at') }}
),

record_customers as (
    select * from {{ ref('int_identity__record_customers') }}
    where
        record_source = 'events/tracks'
    {% if is_incremental() %}
        and customer_id in (select affected.customer_id from affected)
    {% endif %}
),

customer_tracks as (
    select
        record_customers.customer_id,
        tracks.anonymous_id,
        tracks.event_name,
        tracks.event_at,
        lag(tracks.event_at) over (
            partition by record_customers.customer_id, tracks.anonymous_id
            order by tracks.event_at
        ) as previous_event_at
    from tracks
    inner join record_customers on tracks.message_id = record_customers.record_key
),

with_sessions as (
    select
        customer_id,
        event_name,
        event_at,
        {{ days_before_as_of('event_at') }} as days_ago,
        previous_event_at is null
        or {{ dbt.datediff('previous_event_at', 'event_at', 'minute') }}
        > {{ var('session_gap_minutes') }} as starts_session
    from customer_tracks
),

final as (
    select
        customer_id,
        -- noqa: disable=LT02
        {% for days in [7, 30, 90] %}
            count(case when starts_session and days_ago < {{ days }} then 1 end)
                as sessions_{{ days }}d,
            count(case when event_name = 'Product Viewed' and days_ago < {{ days }} then 1 end)
                as product_views_{{ days }}d,
        {% endfor %}
        -- noqa: enable=LT02
        count(case when event_name = 'Product Added' and days_ago < 30 then 1 end)
            as products_added_30d,
        max(event_at) as last_seen_on_site_at,
        {{ run_stamp() }} as changed_at
    from with_sessions
    group by customer_id
)

select * from final
