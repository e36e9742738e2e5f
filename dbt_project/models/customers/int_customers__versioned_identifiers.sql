{#
    The identifier values of every usable landed version (not quarantined) of the records of
    the incrementally staged versioned tables (shop orders), with what ranks the versions:
    customer_identifiers ranks them to find the superseded values of the records it
    recomputes, without parsing every landed file again. Identical rows of one file are kept
    once: a copy never decides whether another version is superseded.

    Incremental, like staging (docs/adr/0002): only landing files not read before are read. A
    record under erasure keeps no row here (its values are never shown), including the rows
    read before its erasure, which a run deletes (one-way, as in staging).
#}
{%- set identifier_types = identity_identifier_types() %}
with

erased_records as (
    select * from {{ ref('int_privacy__erased_records') }}
),

versions as (
    -- noqa: disable=LT02,AL09
    {% for table in landing_tables()
        if table.get('incremental') and table.get('version') and table.identifiers %}
        select distinct
            '{{ table.name }}' as record_source,
            landed.{{ table.key }} as record_key,
            {{ table.version }} as version_at,
            {% for identifier_type in identifier_types %}
                {% if identifier_type in table.identifiers %}
                    {{ table.identifiers[identifier_type] }}
                {% else %}
                    cast(null as {{ dbt.type_string() }})
                {% endif %} as {{ identifier_type }},
            {% endfor %}
            landed._landed_file as landed_file,
            landed._row_hash as row_hash
        from {{ ref(table.model) }} as landed
        left join erased_records
            on
                erased_records.record_source = '{{ table.name }}'
                and landed.{{ table.key }} = erased_records.record_key
        where
            landed._quarantine_reason is null
            and erased_records.record_key is null
            and {{ landed_file_is_new('landed._landed_file') }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02,AL09
)

select * from versions
