{#
    Identifiers that are never allowed to link people, with the reason: a blocklisted
    placeholder or a value shared by more profiles than the cap. Values are shown only for
    blocklisted placeholders (which are not personal data); others are shown by key.
#}
with

identifiers as (
    select * from {{ ref('int_identity__identifiers') }}
    where is_suppressed
),

blocklist as (
    select
        identifier_type,
        lower(trim(identifier_value)) as identifier_value,
        {{ identifier_key('identifier_type', 'lower(trim(identifier_value))') }} as identifier_key
    from {{ ref('identity_blocklist') }}
),

final as (
    select
        identifiers.identifier_key,
        identifiers.identifier_type,
        blocklist.identifier_value as placeholder_value,
        identifiers.suppression_reason,
        identifiers.record_count,
        identifiers.linked_profile_count,
        identifiers.first_seen_at,
        identifiers.last_seen_at
    from identifiers
    left join blocklist on identifiers.identifier_key = blocklist.identifier_key
)

select * from final
