{#- One row per landing table: where every landed row went. landed = the sum of the rest.
    A line the landing intake could not read is landed and quarantined (its reason is in
    landing_quarantine); files quarantined whole and files skipped are counted per table, and
    landing_files says which and why. -#}
with

dispositions as (
    select * from {{ ref('int_landing__row_dispositions') }}
),

intake_files as (
    select * from {{ source('landing_intake', 'files') }}
),

rejected_lines as (
    select
        landing_table,
        count(*) as rejected_lines
    from {{ source('landing_intake', 'rejects') }}
    where line_number is not null
    group by landing_table
),

rows_by_table as (
    select
        landing_table,
        count(*) as disposed_rows,
        count(case when disposition = 'staged' then 1 end) as staged_rows,
        count(case when disposition = 'superseded' then 1 end) as superseded_rows,
        count(case when disposition = 'duplicate_delivery' then 1 end)
            as duplicate_delivery_rows,
        count(case when disposition = 'quarantined' then 1 end) as quarantined_rows,
        count(distinct landed_file) as landed_files
    from dispositions
    group by landing_table
),

files_by_table as (
    select
        landing_table,
        count(distinct case when status = 'quarantined' then landed_file end)
            as quarantined_files,
        count(distinct case when status = 'skipped' then path end) as skipped_files
    from intake_files
    group by landing_table
),

landing_tables as (
    select landing_table from rows_by_table
    union
    select landing_table from files_by_table
),

final as (
    select
        landing_tables.landing_table,
        coalesce(rows_by_table.disposed_rows, 0) + coalesce(rejected_lines.rejected_lines, 0)
            as landed_rows,
        coalesce(rows_by_table.staged_rows, 0) as staged_rows,
        coalesce(rows_by_table.superseded_rows, 0) as superseded_rows,
        coalesce(rows_by_table.duplicate_delivery_rows, 0) as duplicate_delivery_rows,
        coalesce(rows_by_table.quarantined_rows, 0) + coalesce(rejected_lines.rejected_lines, 0)
            as quarantined_rows,
        coalesce(rejected_lines.rejected_lines, 0) as rejected_lines,
        coalesce(rows_by_table.landed_files, 0) as landed_files,
        coalesce(files_by_table.quarantined_files, 0) as quarantined_files,
        coalesce(files_by_table.skipped_files, 0) as skipped_files
    from landing_tables
    left join rows_by_table on landing_tables.landing_table = rows_by_table.landing_table
    left join rejected_lines on landing_tables.landing_table = rejected_lines.landing_table
    left join files_by_table on landing_tables.landing_table = files_by_table.landing_table
)

select * from final
