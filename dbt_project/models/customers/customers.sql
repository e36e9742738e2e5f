{#
    The single customer view: one row per person, stitched across every source.
    Contract: see _customers__models.yml. Erased customers keep their row (so activation can
    remove them everywhere) with every personal field empty.
    Incremental (docs/adr/0004): an hourly run recomputes only the customers the new data
    touched (affected_customers()); every input is cut down to them first.
#}

{%- set inputs = model_inputs(
    ref('int_privacy__erased_records'),
    ref('int_identity__customer_changes'),
    ref('int_customers__affected_records'),
    ref('int_identity__record_customers'),
    ref('int_identity__identifier_customers')
) -%}
with

{% if is_incremental() %}
    affected_customers as (
        {{ affected_customers(inputs) }}
    ),
{% endif %}

identifier_customers as (
    select * from {{ ref('int_identity__identifier_customers') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

record_customers as (
    {{ records_of_affected_customers(inputs) }}
),

golden_fields as (
    select * from {{ ref('int_customers__golden_fields') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

consent as (
    select * from {{ ref('int_customers__consent') }}
    {% if is_incremental() %}
        where customer_id in (select affected_customers.customer_id from affected_customers)
    {% endif %}
),

erased_customers as (
    select * from {{ ref('int_privacy__erased_customers') }}
),

identifiers_per_customer as (
    select
        customer_id,
        count(*) as identifier_count,
        count(case when identifier_type = 'email' then 1 end) as email_count,
        count(case when identifier_type = 'phone' then 1 end) as phone_count,
        count(case when identifier_type = 'crm_contact_id' then 1 end) as crm_contact_count,
        count(case when identifier_type = 'shop_customer_id' then 1 end)
            as shop_account_count,
        count(case when identifier_type = 'anonymous_id' then 1 end) as anonymous_id_count
    from identifier_customers
    group by customer_id
),

records_per_customer as (
    select
        customer_id,
        count(*) as source_record_count,
        count(distinct record_source) as source_count,
        min(observed_at) as first_seen_at,
        max(observed_at) as last_seen_at
    from record_customers
    group by customer_id
),

final as (
    select
        identifiers_per_customer.customer_id,
        golden_fields.email,
        golden_fields.phone,
        golden_fields.first_name,
        golden_fields.last_name,
        golden_fields.country,
        golden_fields.city,
        records_per_customer.first_seen_at,
        records_per_customer.last_seen_at,
        records_per_customer.source_record_count,
        records_per_customer.source_count,
        identifiers_per_customer.identifier_count,
        identifiers_per_customer.email_count,
        identifiers_per_customer.phone_count,
        identifiers_per_customer.crm_contact_count,
        identifiers_per_customer.shop_account_count,
        identifiers_per_customer.anonymous_id_count,
        identifiers_per_customer.identifier_count
        > {{ var('identity_max_identifiers_per_customer') }} as is_oversized_profile,
        {% for purpose in ['email_marketing', 'sms_marketing', 'ads_personalization', 'data_sale_sharing'] %}
        case
            when erased_customers.customer_id is not null then false
            else coalesce(consent.consent_{{ purpose }}, {{ var('consent_default') }})
        end as consent_{{ purpose }},
        consent.consent_{{ purpose }}_recorded_at,
        {% endfor %}
        erased_customers.customer_id is not null as is_erased,
        erased_customers.erasure_requested_at
    from identifiers_per_customer
    left join records_per_customer
        on identifiers_per_customer.customer_id = records_per_customer.customer_id
    left join golden_fields on identifiers_per_customer.customer_id = golden_fields.customer_id
    left join consent on identifiers_per_customer.customer_id = consent.customer_id
    left join erased_customers
        on identifiers_per_customer.customer_id = erased_customers.customer_id
)

select * from final
