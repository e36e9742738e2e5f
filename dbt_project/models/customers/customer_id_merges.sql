{#
    Every customer_id that stopped existing because its profile merged into another, and the
    id that survived. Activation uses it to remove or re-key the retired id in destinations.
    Append-only history; never rebuilt from scratch.
#}
with

registry as (
    select * from {{ ref('int_identity__customer_id_registry') }}
),

current_ids as (
    select distinct customer_id from registry
),

retirements as (
    select
        registry.previous_customer_id as retired_customer_id,
        registry.customer_id as surviving_customer_id,
        registry.customer_id_assigned_at as merged_at,
        count(*) as identifiers_moved
    from registry
    left join current_ids on registry.previous_customer_id = current_ids.customer_id
    where registry.previous_customer_id is not null and current_ids.customer_id is null
    group by 1, 2, 3
),

ranked as (
    select
        *,
        row_number() over (
            partition by retired_customer_id
            order by identifiers_moved desc, surviving_customer_id asc
        ) as survivor_rank
    from retirements
),

already_recorded as (
    {% if is_incremental() %}
    select retired_customer_id from {{ this }}
    {% else %}
    select cast(null as {{ dbt.type_string() }}) as retired_customer_id
    where 1 = 0
    {% endif %}
),

final as (
    select
        ranked.retired_customer_id,
        ranked.surviving_customer_id,
        ranked.merged_at
    from ranked
    left join already_recorded
        on ranked.retired_customer_id = already_recorded.retired_customer_id
    where ranked.survivor_rank = 1 and already_recorded.retired_customer_id is null
)

select * from final
