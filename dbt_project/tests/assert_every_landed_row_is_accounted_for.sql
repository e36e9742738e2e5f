-- Landed rows counted straight from the landed data (the rows the landing intake took in, plus
-- the lines it could not read) must equal the rows the audit accounts for as staged,
-- superseded, duplicate deliveries or quarantined; and every part the intake accepted must
-- have landed exactly the rows its manifest says.
with

taken_in as (
    {% for table in landing_tables() %}
    select
        '{{ table.name }}' as landing_table,
        _landed_file as landed_file,
        count(*) as rows_in_files
    from {{ source(table.name.split('/')[0], table.name.split('/')[1]) }}
    group by _landed_file
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

rejected as (
    select
        landing_table,
        count(*) as rejected_lines
    from {{ source('landing_intake', 'rejects') }}
    where line_number is not null
    group by landing_table
),

landed as (
    select
        landing_table,
        sum(rows_in_files) as rows_in_files
    from taken_in
    group by landing_table
),

audit as (
    select * from {{ ref('landing_audit') }}
),

compared as (
    select
        landed.landing_table,
        landed.rows_in_files + coalesce(rejected.rejected_lines, 0) as rows_in_files,
        coalesce(audit.landed_rows, 0) as landed_rows,
        coalesce(
            audit.staged_rows + audit.superseded_rows + audit.duplicate_delivery_rows
            + audit.quarantined_rows,
            0
        ) as accounted_rows
    from landed
    left join rejected on landed.landing_table = rejected.landing_table
    left join audit on landed.landing_table = audit.landing_table
),

manifest as (
    select
        landed_file,
        rows_taken_in
    from {{ source('landing_intake', 'files') }}
    where status = 'accepted'
),

parts_compared as (
    select
        coalesce(manifest.landed_file, taken_in.landed_file) as landing_table,
        coalesce(manifest.rows_taken_in, 0) as rows_in_files,
        coalesce(taken_in.rows_in_files, 0) as landed_rows,
        coalesce(taken_in.rows_in_files, 0) as accounted_rows
    from manifest
    full outer join taken_in on manifest.landed_file = taken_in.landed_file
)

select * from compared
where rows_in_files <> landed_rows or rows_in_files <> accounted_rows

union all

select * from parts_compared
where rows_in_files <> landed_rows
