{% snapshot segment_membership_history %}
    {#-
        Membership history: one row per period a customer spent in a segment. entered_at is the
        as_of of the build that first found them in it, exited_at the as_of of the build that
        no longer did (null while they are in). Segment deltas and lift are computed from it.
    -#}
    {{
        config(
            target_schema='segments',
            unique_key='membership_id',
            strategy='check',
            check_cols=['is_holdout', 'segment_version'],
            hard_deletes='invalidate',
            snapshot_meta_column_names={
                'dbt_valid_from': 'entered_at',
                'dbt_valid_to': 'exited_at',
            },
        )
    }}

select
    segment_name || ':' || customer_id as membership_id,
    segment_name,
    customer_id,
    segment_version,
    is_holdout
from {{ ref('segment_memberships') }}
{% endsnapshot %}
