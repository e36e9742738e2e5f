{#
    The identity graph's connected components. A record links all of the identifiers it
    carries (a star from its smallest node); suppressed identifiers link nothing. Records that
    share an identifier are therefore the same person, transitively, for chains of any length.

    Incremental: only the components that new data touched are recomputed. They are the old
    components of every identifier recomputed since the last run, plus the new identifiers;
    no edge leaves that part of the graph, because a record's identifiers all belong to one
    component, and a record new data touched has all its identifiers recomputed. Identifiers
    that became suppressed leave the graph: they are returned as (node_id, null).
#}

{%- set since = incremental_since() -%}
with

{% if since is not none %}
    touched_nodes as (
        select node_id from {{ ref('int_identity__identifiers') }}
        where changed_at > {{ since }}
    ),

    affected_nodes as (
        select touched_nodes.node_id from touched_nodes

        union

        select previous.node_id from {{ this }} as previous
        where previous.component_id in (
            select touched_components.component_id from {{ this }} as touched_components
            where touched_components.node_id in (select touched_nodes.node_id from touched_nodes)
        )
    ),

    affected_identifiers as (
        select * from {{ ref('int_identity__identifiers') }}
        where node_id in (select affected_nodes.node_id from affected_nodes)
    ),

    -- The observations of every record carrying an affected identifier: by the argument
    -- above, all of such a record's linking identifiers are affected, so one pass over the
    -- observations finds them (and their nodes), with no second pass by record.
    record_nodes as (
        select
            observations.record_source,
            observations.record_key,
            affected_identifiers.node_id
        from {{ ref('int_identity__observations') }} as observations
        inner join affected_identifiers
            on observations.node_id = affected_identifiers.node_id
        where not affected_identifiers.is_suppressed
    ),
{% else %}
record_nodes as (
    select
        observations.record_source,
        observations.record_key,
        identifiers.node_id
    from {{ ref('int_identity__observations') }} as observations
    inner join {{ ref('int_identity__identifiers') }} as identifiers
        on observations.identifier_key = identifiers.identifier_key
    where not identifiers.is_suppressed
),
{% endif %}

record_anchors as (
    select
        record_source,
        record_key,
        node_id,
        min(node_id) over (partition by record_source, record_key) as anchor_node_id
    from record_nodes
),

final as (
    select distinct
        node_id,
        anchor_node_id as neighbor_id
    from record_anchors

    {% if since is not none %}
        union all

        select
            node_id,
            cast(null as {{ dbt.type_bigint() }}) as neighbor_id
        from affected_identifiers
        where is_suppressed
    {% endif %}
)

select * from final
