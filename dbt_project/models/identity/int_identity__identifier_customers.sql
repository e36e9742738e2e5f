{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        unique_key='identifier_key',
        incremental_strategy='replace',
        affected_keys='affected_identifier_keys',
        post_hook="{{ record_incremental_run() }}",
    )
}}

{#- The current customer of every identifier that links people (suppressed ones excluded).
    Incremental: the identifiers of the components recomputed since the last run. -#}
-- depends_on: {{ ref('int_identity__components') }}
with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where
        not is_suppressed
    {% if is_incremental() %}
            and identifier_key in ({{ affected_identifier_keys() }})
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
