with

source as (
    select * from {{ source('shop', 'order_items') }}
),

parsed as (
    select
        {{ clean_text('order_id') }} as order_id,
        {{ parse_integer('line_number') }} as line_number,
        {{ clean_text('sku') }} as sku,
        {{ clean_text('product_name') }} as product_name,
        {{ clean_text('category') }} as category,
        {{ parse_integer('quantity') }} as quantity,
        {{ parse_decimal('unit_price', scale=4) }} as unit_price,
        {{ amount_problem('unit_price', scale=4) }} as unit_price_problem,
        source._landed_file,
        {{ row_hash('source', landing_table('shop/order_items').columns) }} as _row_hash
    from source
),

validated as (
    select
        {{ dbt.concat(["order_id", "'#'", dbt.safe_cast("line_number", dbt.type_string())]) }}
            as order_item_id,
        order_id,
        line_number,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        case
            when order_id is null then 'missing order_id'
            when line_number is null then 'missing or unreadable line_number'
            when quantity is null then 'missing or unreadable quantity'
            when unit_price is null
                then coalesce(
                    {{ dbt.concat(["'unreadable unit_price: '", 'unit_price_problem']) }},
                    'missing unit_price'
                )
        end as _quarantine_reason,
        _landed_file,
        _row_hash
    from parsed
)

select * from validated
