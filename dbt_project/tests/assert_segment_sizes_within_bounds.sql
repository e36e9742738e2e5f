{{ config(severity='warn') }}
-- Every segment's size against the size_bounds its owner declared (warns; the sync gate
-- that stops sends on a bad size is the orchestration's job).
with

sizes as (
    select
        segment_name,
        count(*) as members
    from {{ ref('segment_memberships') }}
    group by segment_name
),

bounds as (
    -- noqa: disable=LT02
    {% for segment_model in segment_models() %}
        {%- set bounds = {'min': 0, 'max': 0} -%}
        {%- if execute -%}
            {%- for node in graph.nodes.values() if node.name == segment_model -%} {#- noqa: LT05 -#}
                {%- set bounds = node.config.meta.segment.size_bounds -%}
                select
                    '{{ segment_model }}' as segment_name,
                    {{ bounds['min'] }} as min_members,
                    {{ bounds['max'] }} as max_members
            {%- endfor -%}
        {%- else -%}
            select '{{ segment_model }}' as segment_name, 0 as min_members, 0 as max_members
        {%- endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
)

select
    bounds.segment_name,
    coalesce(sizes.members, 0) as members,
    bounds.min_members,
    bounds.max_members
from bounds
left join sizes on bounds.segment_name = sizes.segment_name
where coalesce(sizes.members, 0) not between bounds.min_members and bounds.max_members
