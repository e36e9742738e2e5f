{#- Landed rows that could not be used, with the reason; fix at the source or in staging.
    Also the lines the landing intake could not read (`line_number`) and the files it
    quarantined whole (no line number): file, line and reason, never the content. -#}
with

dispositions as (
    select * from {{ ref('int_landing__row_dispositions') }}
),

intake_rejects as (
    select * from {{ source('landing_intake', 'rejects') }}
),

final as (
    select
        landing_table,
        record_key,
        landed_file,
        cast(null as {{ dbt.type_bigint() }}) as line_number,
        quarantine_reason
    from dispositions
    where disposition = 'quarantined'

    union all

    select
        landing_table,
        cast(null as {{ dbt.type_string() }}) as record_key,
        landed_file,
        cast(line_number as {{ dbt.type_bigint() }}) as line_number,
        reason as quarantine_reason
    from intake_rejects
)

select * from final
