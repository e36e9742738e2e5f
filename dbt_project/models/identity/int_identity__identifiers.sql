{#
    One row per distinct identifier (a node of the identity graph), with the evidence that
    decides whether it may link people:

    - is_blocklisted: listed in the identity_blocklist seed (known placeholders);
    - linked_profile_count: distinct CRM contacts and shop accounts whose records carry it;
      an email, phone or anonymous id above `identity_max_profiles_per_value` is shared by
      too many people to mean one person (e.g. a family inbox, a shop-floor tablet).

    A suppressed identifier never links records; it is kept here, and listed with its reason
    in identity_suppressed_identifiers.

    `node_id` comes from the key itself (its first 60 bits), so it never changes and an
    incremental run can work on part of the graph; a collision fails the uniqueness test.
    Incremental: every identifier carried by a record observed since the last run is
    recomputed (its counts, and its profile count from every record that carries it).
    `changed_at` marks the recomputed rows; `linking_changed_at` the run that last changed
    whether the identifier links people (it became suppressed, or stopped being).
#}

{%- set since = incremental_since() -%}
with

{% if since is not none %}
    touched_nodes as (
        select distinct node_id from {{ ref('int_identity__observations') }}
        where changed_at > {{ since }}
    ),
{% endif %}

observations as (
    select * from {{ ref('int_identity__observations') }}
    {% if since is not none %}
        where node_id in (select touched_nodes.node_id from touched_nodes)
    {% endif %}
),

anchor_observations as (
    select * from {{ ref('int_identity__observations') }}
    where identifier_type in ('crm_contact_id', 'shop_customer_id')
),

blocklist as (
    select
        {{ identifier_key('identifier_type', 'lower(trim(identifier_value))') }} as identifier_key,
        reason
    from {{ ref('identity_blocklist') }}
),

profile_anchors as (
    select * from anchor_observations
    {% if since is not none %}
        where exists (
            select 1 from observations as shared
            where
                shared.record_source = anchor_observations.record_source
                and shared.record_key = anchor_observations.record_key
        )
    {% endif %}
),

linked_profiles as (
    select
        shared.identifier_key,
        count(distinct profile_anchors.identifier_key) as linked_profile_count
    from observations as shared
    inner join profile_anchors
        on
            shared.record_source = profile_anchors.record_source
            and shared.record_key = profile_anchors.record_key
    where shared.identifier_type in ('email', 'phone', 'anonymous_id')
    group by shared.identifier_key
),

identifiers as (
    select
        identifier_key,
        min(identifier_type) as identifier_type,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at,
        count(*) as record_count
    from observations
    group by identifier_key
),

final as (
    select
        {{ identifier_node_id('identifiers.identifier_key') }} as node_id,
        identifiers.identifier_key,
        identifiers.identifier_type,
        identifiers.first_seen_at,
        identifiers.last_seen_at,
        identifiers.record_count,
        coalesce(linked_profiles.linked_profile_count, 0) as linked_profile_count,
        blocklist.identifier_key is not null as is_blocklisted,
        coalesce(linked_profiles.linked_profile_count, 0)
        > {{ var('identity_max_profiles_per_value') }} as is_over_cap,
        case
            when blocklist.identifier_key is not null then 'blocklist: ' || blocklist.reason
            when
                coalesce(linked_profiles.linked_profile_count, 0)
                > {{ var('identity_max_profiles_per_value') }}
                then 'shared by more than {{ var("identity_max_profiles_per_value") }} profiles'
        end as suppression_reason
    from identifiers
    left join linked_profiles on identifiers.identifier_key = linked_profiles.identifier_key
    left join blocklist on identifiers.identifier_key = blocklist.identifier_key
)

-- noqa: disable=LT02
select
    final.*,
    final.suppression_reason is not null as is_suppressed,
    {% if since is not none %}
        case
            when previous.is_suppressed = (final.suppression_reason is not null)
                then previous.linking_changed_at
            else {{ run_stamp() }}
        end
    {% else %}
        {{ run_stamp() }}
    {% endif %} as linking_changed_at,
    {{ run_stamp() }} as changed_at
from final
{% if since is not none %}
    left join {{ this }} as previous on final.identifier_key = previous.identifier_key
{% endif %}
-- noqa: enable=LT02
