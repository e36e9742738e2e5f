{#- Landed rows that could not be used, with the reason; fix at the source or in staging. -#}
with

dispositions as (
    select * from {{ ref('int_landing__row_dispositions') }}
),

final as (
    select
        landing_table,
        record_key,
        landed_file,
        quarantine_reason
    from dispositions
    where disposition = 'quarantined'
)

select * from final
