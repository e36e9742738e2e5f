{#
    The memory of identity resolution: which customer_id each identifier belongs to. It is
    never rebuilt from scratch (full_refresh: false), which is what keeps customer_ids stable.

    Rules, applied to each connected component of this run:
    1. Every customer_id known from the previous run is awarded to the one component that holds
       most of its identifiers (ties: the component whose seed identifier key sorts first).
    2. A component keeps, among the ids awarded to it, the one first seen earliest (ties: the
       smallest id). Any other awarded id is retired: the profiles merged, and the retired id
       is recorded in customer_id_merges.
    3. A component with no awarded id gets a new one: 'cus_' + 20 hex characters of the hash of
       its seed identifier (the identifier seen first, ties by key). Minting from the data rather
       than a sequence means a warehouse rebuilt from nothing gives the same ids again.
    Identifiers that disappear (suppressed, erased, no longer landed) keep their last row.

    Incremental: only the components recomputed since the last run are assigned again. That is
    exact, because every identifier of a customer_id lies in one old component, and a
    recomputed component is recomputed whole.
#}

{%- set since = incremental_since() -%}
with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where not is_suppressed
),

components as (
    select * from {{ ref('int_identity__components') }}
    {% if since is not none %}
        where changed_at > {{ since }}
    {% endif %}
),

previous_assignments as (
    {% if is_incremental() %}
    select
        identifier_key,
        customer_id,
        customer_first_seen_at,
        previous_customer_id,
        customer_id_assigned_at
    from {{ this }}
    {% if since is not none %}
        where identifier_key in (
            select identifiers.identifier_key
            from identifiers
            inner join components on identifiers.node_id = components.node_id
        )
    {% endif %}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as identifier_key,
        cast(null as {{ dbt.type_string() }}) as customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as customer_first_seen_at,
        cast(null as {{ dbt.type_string() }}) as previous_customer_id,
        cast(null as {{ dbt.type_timestamp() }}) as customer_id_assigned_at
    where 1 = 0
    {% endif %}
),

component_members as (
    select
        components.component_id,
        identifiers.identifier_key,
        identifiers.first_seen_at
    from identifiers
    inner join components on identifiers.node_id = components.node_id
),

ranked_members as (
    select
        *,
        row_number() over (
            partition by component_id
            order by first_seen_at nulls last, identifier_key
        ) as seed_rank,
        min(first_seen_at) over (partition by component_id) as component_first_seen_at
    from component_members
),

component_seeds as (
    select
        component_id,
        identifier_key as seed_identifier_key,
        component_first_seen_at
    from ranked_members
    where seed_rank = 1
),

claims as (
    select
        component_members.component_id,
        previous_assignments.customer_id,
        count(*) as identifiers_claimed,
        min(previous_assignments.customer_first_seen_at) as customer_first_seen_at
    from component_members
    inner join previous_assignments
        on component_members.identifier_key = previous_assignments.identifier_key
    group by 1, 2
),

awards as (
    select
        claims.component_id,
        claims.customer_id,
        claims.customer_first_seen_at,
        row_number() over (
            partition by claims.customer_id
            order by claims.identifiers_claimed desc, component_seeds.seed_identifier_key asc
        ) as award_rank
    from claims
    inner join component_seeds on claims.component_id = component_seeds.component_id
),

survivors as (
    select
        component_id,
        customer_id,
        row_number() over (
            partition by component_id
            order by customer_first_seen_at nulls last, customer_id
        ) as survivor_rank
    from awards
    where award_rank = 1
),

known_customer_ids as (
    {% if is_incremental() %}
        select distinct customer_id from {{ this }}
    {% else %}
    select distinct customer_id from previous_assignments
    {% endif %}
),

minted as (
    select
        component_seeds.component_id,
        'cus_' || substr({{ dbt.hash('component_seeds.seed_identifier_key') }}, 1, 20)
            as first_choice,
        'cus_' || substr({{ dbt.hash(dbt.concat(["component_seeds.seed_identifier_key", "':2'"])) }}, 1, 20)
            as second_choice
    from component_seeds
    left join survivors
        on component_seeds.component_id = survivors.component_id and survivors.survivor_rank = 1
    where survivors.component_id is null
),

component_customer_ids as (
    select
        component_id,
        customer_id
    from survivors
    where survivor_rank = 1

    union all

    select
        minted.component_id,
        case
            when known_customer_ids.customer_id is null then minted.first_choice
            else minted.second_choice
        end as customer_id
    from minted
    left join known_customer_ids on minted.first_choice = known_customer_ids.customer_id
),

final as (
    select
        component_members.identifier_key,
        component_customer_ids.customer_id,
        component_seeds.component_first_seen_at as customer_first_seen_at,
        case
            when previous_assignments.customer_id is null then null
            when previous_assignments.customer_id <> component_customer_ids.customer_id
                then previous_assignments.customer_id
            else previous_assignments.previous_customer_id
        end as previous_customer_id,
        case
            when previous_assignments.customer_id = component_customer_ids.customer_id
                then previous_assignments.customer_id_assigned_at
            else cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }})
        end as customer_id_assigned_at
    from component_members
    inner join component_customer_ids
        on component_members.component_id = component_customer_ids.component_id
    inner join component_seeds on component_members.component_id = component_seeds.component_id
    left join previous_assignments
        on component_members.identifier_key = previous_assignments.identifier_key
)

select * from final
