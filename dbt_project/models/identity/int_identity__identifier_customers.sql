{#- The current customer of every identifier that links people (suppressed ones excluded).
    Incremental: the identifiers of the components recomputed since the last run. -#}
{%- set inputs = model_inputs(
    ref('int_identity__components'),
    ref('int_identity__identifiers')
) -%}
with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where
        not is_suppressed
    {% if is_incremental() %}
            and identifier_key in ({{ affected_identifier_keys(inputs) }})
        {% endif %}
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
