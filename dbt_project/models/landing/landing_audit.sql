{#- One row per landing table: where every landed row went. landed = the sum of the rest. -#}
with

dispositions as (
    select * from {{ ref('int_landing__row_dispositions') }}
),

final as (
    select
        landing_table,
        count(*) as landed_rows,
        count(case when disposition = 'staged' then 1 end) as staged_rows,
        count(case when disposition = 'superseded' then 1 end) as superseded_rows,
        count(case when disposition = 'duplicate_delivery' then 1 end)
            as duplicate_delivery_rows,
        count(case when disposition = 'quarantined' then 1 end) as quarantined_rows,
        count(distinct landed_file) as landed_files
    from dispositions
    group by landing_table
)

select * from final
