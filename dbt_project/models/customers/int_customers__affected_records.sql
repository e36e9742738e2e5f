{#
    The records of the customers the customer-level models recompute in this run
    (int_identity__record_customers rows), so customer_identifiers, field candidates and
    customers each read a small table instead of filtering every record (docs/adr/0004).
    It holds the customers logged in int_identity__customer_changes since the oldest last
    successful run among the models that read it, so a model that failed before still finds
    all of its customers here. Empty when none of them runs incrementally (a first build, a
    full refresh, Spark): they read int_identity__record_customers then.
#}
{%- set customer_changes = ref('int_identity__customer_changes') -%}
{%- set since = oldest_dependent_since() %}
select
    record_customers.record_source,
    record_customers.record_key,
    record_customers.customer_id,
    record_customers.observed_at,
    record_customers.changed_at
from {{ ref('int_identity__record_customers') }} as record_customers
{% if since is not none %}
    where record_customers.customer_id in (
        select customer_changes.customer_id
        from {{ customer_changes }} as customer_changes
        where customer_changes.changed_at > {{ since }}
    )
{% else %}
where 1 = 0
{% endif %}
