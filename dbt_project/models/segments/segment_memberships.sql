{#- Every member of every segment (contract): who is in, and who is held out for lift. -#}
with

memberships as (
    -- noqa: disable=LT02
    {% for segment_model in segment_models() %}
        select
            segment_name,
            customer_id,
            segment_version,
            is_holdout,
            has_consent
        from {{ ref(segment_model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
),

final as (
    select
        segment_name,
        customer_id,
        segment_version,
        is_holdout,
        has_consent,
        {{ as_of() }} as as_of
    from memberships
)

select * from final
