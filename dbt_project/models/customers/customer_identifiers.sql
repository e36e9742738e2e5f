{#
    Every distinct normalized identifier of every customer, the way to reach a person from any
    source record. Values come from staging (already masked for erasure) plus the superseded
    versions of versioned entities (contacts, accounts, orders, tickets), so an email someone
    used before changing it still resolves. Erased customers have no rows; suppressed
    identifiers (placeholders, shared values) belong to nobody and are listed in
    identity_suppressed_identifiers.
#}
with

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
),

erased_customers as (
    select * from {{ ref('int_privacy__erased_customers') }}
),

erased_records as (
    select * from {{ ref('int_privacy__erased_records') }}
),

{%- set versioned_tables = ['crm/contacts', 'shop/customers', 'shop/orders', 'support/tickets'] %}
{%- set identifier_columns = [
    ('stg_crm__contacts', 'crm_contact_id', 'contact_id'),
    ('stg_crm__contacts', 'email', 'email'),
    ('stg_crm__contacts', 'phone', 'phone'),
    ('stg_shop__customers', 'shop_customer_id', 'customer_id'),
    ('stg_shop__customers', 'email', 'email'),
    ('stg_shop__customers', 'phone', 'phone'),
    ('stg_shop__orders', 'shop_customer_id', 'customer_id'),
    ('stg_shop__orders', 'email', 'email'),
    ('stg_events__identifies', 'anonymous_id', 'anonymous_id'),
    ('stg_events__identifies', 'shop_customer_id', 'user_id'),
    ('stg_events__identifies', 'email', 'email'),
    ('stg_events__tracks', 'anonymous_id', 'anonymous_id'),
    ('stg_events__tracks', 'shop_customer_id', 'user_id'),
    ('stg_email__events', 'email', 'email'),
    ('stg_support__tickets', 'email', 'requester_email'),
] %}

-- noqa: disable=LT02
{#- Base models of incrementally staged tables stop before dispositions: rank them here. -#}
{% for table in landing_tables() if table.name in versioned_tables and table.get('incremental') %}
    {{ table.model }}_rows as (
        select * from {{ ref(table.model) }}
    ),

    {{ landing_dispositions(
        table.model ~ '_rows', table.key, table.get('version'), prefix=table.model ~ '_'
    ) }},
{% endfor %}

values_seen as (
    {% for model_name, identifier_type, column in identifier_columns %}
        select
            '{{ identifier_type }}' as identifier_type,
            {{ column }} as identifier_value
        from {{ ref(model_name) }}
        union all
    {% endfor %}
    select
        identifier_type,
        identifier_value
    from {{ ref('stg_consent__events') }}
    {% for table in landing_tables() if table.name in versioned_tables %}
        {% for identifier_type, column in table.identifiers.items() %}
            union all
            select
                '{{ identifier_type }}' as identifier_type,
                superseded.{{ column }} as identifier_value
            {% if table.get('incremental') %}
                from {{ table.model }}_with_dispositions as superseded
            {% else %}
                from {{ ref(table.model) }} as superseded
            {% endif %}
            left join erased_records
                on
                    erased_records.record_source = '{{ table.name }}'
                    and superseded.{{ table.key }} = erased_records.record_key
            where superseded._disposition = 'superseded' and erased_records.record_key is null
        {% endfor %}
    {% endfor %}
    -- noqa: enable=LT02
),

distinct_values as (
    select distinct
        identifier_type,
        identifier_value
    from values_seen
    where identifier_value is not null
),

final as (
    select
        identifier_customers.customer_id,
        distinct_values.identifier_type,
        distinct_values.identifier_value,
        identifier_customers.first_seen_at,
        identifier_customers.last_seen_at,
        identifier_customers.record_count
    from distinct_values
    inner join identifier_customers
        on
            {{ identifier_key('distinct_values.identifier_type', 'distinct_values.identifier_value') }}
            = identifier_customers.identifier_key
    left join erased_customers
        on identifier_customers.customer_id = erased_customers.customer_id
    where erased_customers.customer_id is null
)

select * from final
