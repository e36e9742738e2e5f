{#- Every file the landing intake saw under the landing root, one row per part taken in:
    accepted (its rows are landed), quarantined whole (unreadable, a foreign header, a missing
    required column) or skipped (not a file type it reads), with the reason. -#}
with

intake_files as (
    select * from {{ source('landing_intake', 'files') }}
),

final as (
    select
        landing_table,
        path,
        landed_file,
        content_hash,
        cast(bytes as {{ dbt.type_bigint() }}) as file_bytes,
        cast(rows_taken_in as {{ dbt.type_bigint() }}) as rows_taken_in,
        cast(rejected_lines as {{ dbt.type_bigint() }}) as rejected_lines,
        status,
        reason,
        taken_in_at
    from intake_files
)

select * from final
