with

source as (
    select * from {{ source('shop', 'orders') }}
),

parsed as (
    select
        {{ clean_text('order_id') }} as order_id,
        {{ clean_text('customer_id') }} as customer_id,
        {{ normalize_email('email') }} as email,
        {{ clean_text('email') }} is not null as has_email_value,
        {{ parse_timestamp_utc('ordered_at') }} as ordered_at,
        {{ timestamp_quarantine_reason('ordered_at', 'ordered_at') }} as ordered_at_problem,
        lower({{ clean_text('status') }}) as status,
        {{ parse_decimal('subtotal') }} as subtotal,
        {{ is_unparseable('subtotal', parse_decimal('subtotal')) }} as has_invalid_subtotal,
        {{ parse_decimal('discount') }} as discount,
        {{ is_unparseable('discount', parse_decimal('discount')) }} as has_invalid_discount,
        {{ parse_decimal('total') }} as total,
        {{ amount_problem('total') }} as total_problem,
        {{ parse_decimal('refunded_amount') }} as refunded_amount,
        {{ is_unparseable('refunded_amount', parse_decimal('refunded_amount')) }}
            as has_invalid_refunded_amount,
        {{ parse_timestamp_utc('updated_at') }} as updated_at,
        {{ is_unparseable('updated_at', parse_timestamp_utc('updated_at')) }}
            as has_invalid_updated_at,
        source._landed_file,
        {{ row_hash('source', landing_table('shop/orders').columns) }} as _row_hash
    from source
),

validated as (
    select
        order_id,
        customer_id,
        email,
        ordered_at,
        status,
        subtotal,
        coalesce(discount, 0) as discount,
        total,
        coalesce(refunded_amount, 0) as refunded_amount,
        coalesce(updated_at, ordered_at) as updated_at,
        has_email_value and email is null as has_invalid_email,
        has_invalid_subtotal,
        has_invalid_discount,
        has_invalid_refunded_amount,
        has_invalid_updated_at,
        case
            when order_id is null then 'missing order_id'
            when ordered_at is null then ordered_at_problem
            when
                status is null
                or status not in ('paid', 'partially_refunded', 'refunded', 'cancelled')
                then 'unknown status'
            when total is null
                then coalesce({{ dbt.concat(["'unreadable total: '", 'total_problem']) }}, 'missing total')
            when total < 0 then 'negative total'
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from parsed
)

select * from validated
