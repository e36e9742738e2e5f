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
)

select
    landed.landing_table,
    landed.rows_in_files,
    audit.landed_rows,
    audit.staged_rows + audit.superseded_rows + audit.duplicate_delivery_rows
    + audit.quarantined_rows as accounted_rows
from landed
left join audit on landed.landing_table = audit.landing_table
where
    audit.landed_rows is null
    or landed.rows_in_files <> audit.landed_rows
    or landed.rows_in_files
    <> audit.staged_rows + audit.superseded_rows + audit.duplicate_delivery_rows
    + audit.quarantined_rows
