{#
    Every distinct normalized identifier of every customer, the way to reach a person from any
    source record. Values come from staging (already masked for erasure) plus the superseded
    versions of versioned entities (contacts, accounts, orders, tickets), so an email someone
    used before changing it still resolves. Erased customers have no rows; suppressed
    identifiers (placeholders, shared values) belong to nobody and are listed in
    identity_suppressed_identifiers.

    Incremental: only the records of the affected customers are read. They carry every value
    of those customers, since a record's linking identifiers all belong to its customer. The
    versions of contacts, accounts, orders and tickets come from
    int_customers__versioned_identifiers, so their landing files are not read again.
#}
{%- set inputs = model_inputs(
    ref('int_identity__record_customers'),
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_customers__affected_records'),
    ref('int_identity__identifier_customers')
) -%}
with

{% if is_incremental() %}
    affected_customers as (
        {{ affected_customers(inputs) }}
    ),

    record_customers as (
        {{ records_of_affected_customers(inputs) }}
    ),
{% endif %}

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

erased_customers as (
    select * from {{ ref('int_privacy__erased_customers') }}
),

erased_records as (
    select * from {{ ref('int_privacy__erased_records') }}
),

{%- set versioned_tables = ['crm/contacts', 'shop/customers', 'shop/orders', 'support/tickets'] %}
{#- (staging model, its landing table and key, the identifier type and column it carries) -#}
{%- set identifier_columns = [
    ('stg_crm__contacts', 'crm/contacts', 'contact_id', 'crm_contact_id', 'contact_id'),
    ('stg_crm__contacts', 'crm/contacts', 'contact_id', 'email', 'email'),
    ('stg_crm__contacts', 'crm/contacts', 'contact_id', 'phone', 'phone'),
    ('stg_shop__customers', 'shop/customers', 'customer_id', 'shop_customer_id', 'customer_id'),
    ('stg_shop__customers', 'shop/customers', 'customer_id', 'email', 'email'),
    ('stg_shop__customers', 'shop/customers', 'customer_id', 'phone', 'phone'),
    ('stg_shop__orders', 'shop/orders', 'order_id', 'shop_customer_id', 'customer_id'),
    ('stg_shop__orders', 'shop/orders', 'order_id', 'email', 'email'),
    ('stg_events__identifies', 'events/identifies', 'message_id', 'anonymous_id', 'anonymous_id'),
    ('stg_events__identifies', 'events/identifies', 'message_id', 'shop_customer_id', 'user_id'),
    ('stg_events__identifies', 'events/identifies', 'message_id', 'email', 'email'),
    ('stg_events__tracks', 'events/tracks', 'message_id', 'anonymous_id', 'anonymous_id'),
    ('stg_events__tracks', 'events/tracks', 'message_id', 'shop_customer_id', 'user_id'),
    ('stg_email__events', 'email/events', 'email_event_id', 'email', 'email'),
    ('stg_support__tickets', 'support/tickets', 'ticket_id', 'email', 'requester_email'),
] %}

-- noqa: disable=LT02
{#- The versions of incrementally staged records are kept in int_customers__versioned_identifiers
    (their landing files are not read again): rank them here. -#}
{% for table in landing_tables() if table.name in versioned_tables and table.get('incremental') %}
    {{ table.model }}_rows as (
        select
            record_key,
            version_at,
            {% for identifier_type in table.identifiers %}
                {{ identifier_type }},
            {% endfor %}
            landed_file as _landed_file,
            row_hash as _row_hash,
            cast(null as {{ dbt.type_string() }}) as _quarantine_reason
        from {{ ref('int_customers__versioned_identifiers') }}
        where
            record_source = '{{ table.name }}'
            and {{ records_of_customers(table.name, 'record_key') }}
    ),

    {{ landing_dispositions(
        table.model ~ '_rows', 'record_key', 'version_at', prefix=table.model ~ '_'
    ) }},
{% endfor %}

{#- Each staged table is read once: its identifier columns become rows by a cross join with
    numbered slots (a portable unpivot). -#}
{%- set staged_identifiers = {} -%}
{%- for model_name, record_source, key, identifier_type, column in identifier_columns -%}
    {%- if model_name not in staged_identifiers -%}
        {%- do staged_identifiers.update(
            {model_name: {'source': record_source, 'key': key, 'columns': []}}
        ) -%}
    {%- endif -%}
    {%- do staged_identifiers[model_name]['columns'].append((identifier_type, column)) -%}
{%- endfor %}

{%- set slot_counts = [3] -%}
{%- for staged in staged_identifiers.values() -%}
    {%- do slot_counts.append(staged.columns | length) -%}
{%- endfor -%}
{%- for table in landing_tables() -%}
    {%- do slot_counts.append(table.identifiers | length) -%}
{%- endfor %}

identifier_slots as (
    -- noqa: disable=LT02
    {% for slot in range(1, slot_counts | max + 1) %}
        select {{ slot }} as slot
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
),

values_seen as (
    -- noqa: disable=LT02
    {% for model_name, staged in staged_identifiers.items() %}
        select
            case identifier_slots.slot
                {% for identifier_type, column in staged.columns -%}
                    when {{ loop.index }} then '{{ identifier_type }}'
                {% endfor -%}
            end as identifier_type,
            case identifier_slots.slot
                {% for identifier_type, column in staged.columns -%}
                    when {{ loop.index }} then staged.{{ column }}
                {% endfor -%}
            end as identifier_value
        from {{ ref(model_name) }} as staged
        cross join identifier_slots
        where
            identifier_slots.slot <= {{ staged.columns | length }}
            and {{ records_of_customers(staged.source, 'staged.' ~ staged.key) }}
        union all
    {% endfor %}
    select
        identifier_type,
        identifier_value
    from {{ ref('stg_consent__events') }}
    where {{ records_of_customers('consent/events', 'consent_event_id') }}
    {% for table in landing_tables() if table.name in versioned_tables %}
        union all
        select
            case identifier_slots.slot
                {% for identifier_type in table.identifiers -%}
                    when {{ loop.index }} then '{{ identifier_type }}'
                {% endfor -%}
            end as identifier_type,
            case identifier_slots.slot
                {% for identifier_type in table.identifiers -%}
                    when {{ loop.index }} then superseded.{{ identifier_type }}
                {% endfor -%}
            end as identifier_value
        from {{ table.model }}_with_dispositions as superseded
        cross join identifier_slots
        left join erased_records
            on
                erased_records.record_source = '{{ table.name }}'
                and superseded.record_key = erased_records.record_key
        where
            identifier_slots.slot <= {{ table.identifiers | length }}
            and superseded._disposition = 'superseded'
            and erased_records.record_key is null
            and {{ records_of_customers(table.name, 'superseded.record_key') }}
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
