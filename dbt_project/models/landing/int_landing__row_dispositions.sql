{#
    What happened to every landed row: staged, superseded by a newer version, dropped as a
    duplicate delivery, or quarantined with a reason. Keys and file names only, no values.
#}
with

dispositions as (
    {% for table in landing_tables() %}
    select
        '{{ table.name }}' as landing_table,
        {{ table.key }} as record_key,
        _landed_file as landed_file,
        _disposition as disposition,
        _quarantine_reason as quarantine_reason
    from {{ ref(table.model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from dispositions
