{{ config(materialized='connected_components') }}

{#
    The identity graph's connected components. A record links all of the identifiers it
    carries (a star from its smallest node); suppressed identifiers link nothing. Records that
    share an identifier are therefore the same person, transitively, for chains of any length.
#}
with

observations as (
    select * from {{ ref('int_identity__observations') }}
),

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
),

record_nodes as (
    select
        observations.record_source,
        observations.record_key,
        identifiers.node_id
    from observations
    inner join identifiers on observations.identifier_key = identifiers.identifier_key
    where not identifiers.is_suppressed
),

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
)

select * from final
