{#
    People who asked to be erased: every customer holding a record that an applied deletion
    request reached (int_privacy__applied_erasures). A request applies to the customer its
    identifier resolves to, or, by a phone without a country code, to the one customer
    int_privacy__national_phone_matches finds for it (nobody while it matches none or several;
    privacy_unapplied_rows lists the latter). Once applied, it stays: later data cannot undo
    it. Only keys and timestamps are kept here.
#}
with

erased_records as (
    select
        applied_erasures.deletion_request_id,
        applied_erasures.requested_at,
        record_customers.customer_id
    from {{ ref('int_privacy__applied_erasures') }} as applied_erasures
    inner join {{ ref('int_identity__record_customers') }} as record_customers
        on
            applied_erasures.record_source = record_customers.record_source
            and applied_erasures.record_key = record_customers.record_key
),

final as (
    select
        customer_id,
        min(requested_at) as erasure_requested_at,
        count(distinct deletion_request_id) as deletion_request_count
    from erased_records
    group by customer_id
)

select * from final
