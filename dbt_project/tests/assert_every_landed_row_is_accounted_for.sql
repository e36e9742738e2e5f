-- Landed rows counted straight from the landing files must equal the rows the audit
-- accounts for as staged, superseded, duplicate deliveries or quarantined.
with

landed as (
    {% for source_name, table_name in [
        ('crm', 'contacts'), ('shop', 'customers'), ('shop', 'orders'),
        ('shop', 'order_items'), ('events', 'tracks'), ('events', 'identifies'),
        ('email', 'events'), ('support', 'tickets'), ('consent', 'events'),
        ('privacy', 'deletion_requests')
    ] %}
    select
        '{{ source_name }}/{{ table_name }}' as landing_table,
        count(*) as rows_in_files
    from {{ source(source_name, table_name) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

audit as (
    select * from {{ ref('landing_audit') }}
),

compared as (
    select
        landed.landing_table,
        landed.rows_in_files,
        coalesce(audit.landed_rows, 0) as landed_rows,
        coalesce(
            audit.staged_rows + audit.superseded_rows + audit.duplicate_delivery_rows
            + audit.quarantined_rows,
            0
        ) as accounted_rows
    from landed
    left join audit on landed.landing_table = audit.landing_table
)

select * from compared
where rows_in_files <> landed_rows or rows_in_files <> accounted_rows
