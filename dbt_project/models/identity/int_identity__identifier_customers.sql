{#- The current customer of every identifier that links people (suppressed ones excluded). -#}
with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where not is_suppressed
),

registry as (
    select * from {{ ref('int_identity__customer_id_registry') }}
),

final as (
    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        registry.customer_id,
        identifiers.first_seen_at,
        identifiers.last_seen_at,
        identifiers.record_count
    from identifiers
    inner join registry on identifiers.identifier_key = registry.identifier_key
)

select * from final
