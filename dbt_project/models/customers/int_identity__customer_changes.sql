{#
    The log of customers whose profile may have changed, one row per customer and run
    (docs/adr/0004): the customer-level models read the customers logged since their own last
    successful run (affected_customers()), so the set is found once per run, not once per
    model. A run logs:
    - the customers of every record identity rewrote (new or changed records, and every
      record of a recomputed component);
    - the ids a merge retired (the previous id of every identifier reassigned since);
    - the customers of identifiers that became suppressed (they may have lost their last one);
    - the customers of records under erasure: a deletion request carries no identifier of the
      graph, yet masks the person's staged rows. They are few, so they are logged every run;
    - the customers of parent records whose child rows landed since (the order of a late order
      line: its customer's purchases changed);
    - the customers a consent event or deletion request with a national phone reaches, or
      reached before, when its matches changed since (int_privacy__national_phone_matches: a
      newly landed phone can add a match, and so withdraw a grant from the customer it
      reached alone).
    A full build logs every current customer.
#}
{%- set since = incremental_since() %}
{%- set inputs = model_inputs(
    ref('int_identity__identifier_customers'),
    ref('int_identity__customer_id_registry'),
    ref('int_identity__identifiers'),
    ref('int_landing__row_dispositions'),
    ref('int_privacy__national_phone_matches')
) -%}
with

-- int_identity__record_customers is read by each branch on its own (not as one shared CTE):
-- the rows a run rewrote sit together at the end of the table, so the first branch skips the
-- rest of it, and the second reads only the columns it joins on.
-- Records whose customer is logged every run: those under erasure, and the parents of child
-- rows that landed since.
records_to_log as (
    select
        erased_records.record_source,
        erased_records.record_key
    from {{ ref('int_privacy__erased_records') }} as erased_records
    {% if since is not none %}
        union
        select
            changed_parents.record_source,
            changed_parents.record_key
        from ({{ changed_parent_records(inputs) }}) as changed_parents
    {% endif %}
),

changed as (
    select rewritten.customer_id
    from {{ ref('int_identity__record_customers') }} as rewritten
    {% if since is not none %}
        where rewritten.changed_at > {{ since }}
    {% endif %}

    union

    select record_customers.customer_id
    from {{ ref('int_identity__record_customers') }} as record_customers
    inner join records_to_log
        on
            record_customers.record_source = records_to_log.record_source
            and record_customers.record_key = records_to_log.record_key

    {% if since is not none %}
        union

        select registry.previous_customer_id as customer_id
        from {{ ref('int_identity__customer_id_registry') }} as registry
        where
            registry.customer_id_assigned_at > {{ since }}
            and registry.previous_customer_id is not null

        union

        select registry.customer_id
        from {{ ref('int_identity__customer_id_registry') }} as registry
        inner join {{ ref('int_identity__identifiers') }} as identifiers
            on registry.identifier_key = identifiers.identifier_key
        where identifiers.changed_at > {{ since }} and identifiers.is_suppressed

        union

        select national_phone_matches.customer_id
        from {{ ref('int_privacy__national_phone_matches') }} as national_phone_matches
        where national_phone_matches.changed_at > {{ since }}
    {% else %}
    union

    select customer_id from {{ ref('int_identity__identifier_customers') }}
    {% endif %}
)

select
    customer_id,
    {{ run_stamp() }} as changed_at
from changed
where customer_id is not null
