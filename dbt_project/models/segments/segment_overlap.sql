{#- Members shared between every pair of segments (current memberships, holdouts included). -#}
with

memberships as (
    select * from {{ ref('segment_memberships') }}
),

sizes as (
    select
        segment_name,
        count(*) as members
    from memberships
    group by segment_name
),

shared as (
    select
        first_segment.segment_name,
        second_segment.segment_name as other_segment_name,
        count(*) as shared_members
    from memberships as first_segment
    inner join memberships as second_segment
        on
            first_segment.customer_id = second_segment.customer_id
            and first_segment.segment_name < second_segment.segment_name
    group by first_segment.segment_name, second_segment.segment_name
),

final as (
    select
        shared.segment_name,
        shared.other_segment_name,
        shared.shared_members,
        1.0 * shared.shared_members / segment_sizes.members as share_of_segment,
        1.0 * shared.shared_members / other_sizes.members as share_of_other_segment
    from shared
    inner join sizes as segment_sizes on shared.segment_name = segment_sizes.segment_name
    inner join sizes as other_sizes on shared.other_segment_name = other_sizes.segment_name
)

select * from final
