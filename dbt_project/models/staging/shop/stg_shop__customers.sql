with

customers as (
    select * from {{ ref('base_shop__customers') }}
    where _disposition = 'staged'
),

final as (
    select
        customers.customer_id,
        {{ unless_erased('customers.email') }} as email,
        {{ unless_erased('customers.phone') }} as phone,
        {{ unless_erased('customers.first_name') }} as first_name,
        {{ unless_erased('customers.last_name') }} as last_name,
        {{ unless_erased('customers.country') }} as country,
        {{ unless_erased('customers.city') }} as city,
        customers.accepts_email_marketing,
        {{ is_erased() }} as is_erased,
        customers.has_invalid_email,
        customers.has_invalid_phone,
        customers.has_unrecognized_country,
        customers.has_invalid_accepts_email_marketing,
        customers.has_invalid_created_at,
        customers.has_invalid_updated_at,
        customers.created_at,
        customers.updated_at,
        customers._landed_file as landed_file
    from customers
    {{ left_join_erased('shop/customers', 'customers.customer_id') }}
)

select * from final
