{#
    Survivorship: for each customer and field, the value from the most trusted source
    (identity_source_priority: shop account, then CRM contact, then identify calls, orders,
    tickets, email events), then the most recently updated record, then the smallest value so
    that ties are deterministic. Incremental: only the affected customers' candidates are ranked.
#}
{%- set inputs = model_inputs(
    ref('int_identity__record_customers'),
    ref('int_identity__identifier_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes')
) -%}
with

{% if is_incremental() %}
    affected_customers as (
        {{ affected_customers(inputs) }}
    ),
{% endif %}

candidates as (
    select * from {{ ref('int_customers__field_candidates') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id, field_name
            order by source_priority asc, observed_at desc nulls last, field_value asc
        ) as survivorship_rank
    from candidates
),

final as (
    select
        customer_id,
        -- noqa: disable=LT01,LT02
        {% for field in ['email', 'phone', 'first_name', 'last_name', 'country', 'city'] %}
            max(case when field_name = '{{ field }}' then field_value end) as {{ field }},
            max(case when field_name = '{{ field }}' then record_source end)
                as {{ field }}_source{{ ',' if not loop.last }}
        {% endfor %}
    -- noqa: enable=LT01,LT02
    from ranked
    where survivorship_rank = 1
    group by customer_id
)

select * from final
