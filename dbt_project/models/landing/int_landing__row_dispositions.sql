{{ config(materialized='incremental', unique_key=['landing_table', 'record_key']) }}

{#
    Every landed row, read once: what happened to it (staged, superseded by a newer version,
    a duplicate delivery, or quarantined with a reason), when it was observed, and the hashed
    keys of the identifiers it carries. Keys, hashes and file names only: no personal data.
    The identity graph and the landing audit both start here, so the landing files are
    parsed once for them.

    Incremental (docs/adr/0004): a run reads only the files not read before. For the tables
    whose staging is incremental, the new rows are ranked together with the rows already here
    for the same keys (the ranking is a total order, so this gives the full ranking's answer)
    and every row of those keys is replaced; `changed_at` marks the rows a run (re)wrote, which
    is where identity starts its own incremental work. Every landing table's staging is
    incremental, so every base model stops before dispositions (landing_tables()).
#}

{%- for table in landing_tables() if not table.get('incremental') -%}
    {{ exceptions.raise_compiler_error(
        table.name ~ ": every landing table's staging must be incremental (landing_tables())"
    ) }}
{%- endfor -%}
{%- set seen_files = landed_files_seen() -%}

with

-- noqa: disable=LT02
{% for table in landing_tables() %}
        {{ table.model }}_new as (
            select
                {{ table.key }} as record_key,
                _landed_file,
                _quarantine_reason,
                _row_hash,
                cast({{ table.get('version') or 'null' }} as {{ dbt.type_timestamp() }}) as _version_at,
                {% if table.get('parent') %}
                    {{ table.parent.key }}
                {% else %}
                    cast(null as {{ dbt.type_string() }})
                {% endif %} as parent_record_key,
                {{ table.observed_at }} as observed_at,
                {% for identifier_type in identity_identifier_types() %}
                    {% if identifier_type in table.identifiers %}
                        {{ identifier_key("'" ~ identifier_type ~ "'", table.identifiers[identifier_type]) }}
                    {% else %}
                        cast(null as {{ dbt.type_string() }})
                    {% endif %} as {{ identifier_type }}_key,
                {% endfor %}
                '{{ table.name }}' as landing_table
            from {{ ref(table.model) }}
            where {{ file_not_in('_landed_file', seen_files) }}
        ),

        {{ table.model }}_rows as (
            select * from {{ table.model }}_new

            {% if is_incremental() %}
                union all

                select
                    record_key,
                    landed_file as _landed_file,
                    quarantine_reason as _quarantine_reason,
                    row_hash as _row_hash,
                    version_at as _version_at,
                    parent_record_key,
                    observed_at,
                    {% for identifier_type in identity_identifier_types() %}
                        {{ identifier_type }}_key,
                    {% endfor %}
                    landing_table
                from {{ this }}
                where
                    landing_table = '{{ table.name }}'
                    and record_key in (
                        select new_rows.record_key from {{ table.model }}_new as new_rows
                    )
            {% endif %}
        ),

        {{ landing_dispositions(
            table.model ~ '_rows', 'record_key', '_version_at' if table.get('version') else none,
            prefix=table.model ~ '_'
        ) }},
{% endfor %}

dispositions as (
    {% for table in landing_tables() %}
        select
            landing_table,
            record_key,
            _landed_file as landed_file,
            _disposition as disposition,
            _quarantine_reason as quarantine_reason,
            observed_at,
            {% for identifier_type in identity_identifier_types() %}
                {{ identifier_type }}_key,
            {% endfor %}
            _row_hash as row_hash,
            _version_at as version_at,
            parent_record_key
        from {{ table.model }}_with_dispositions
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
),

final as (
    select
        landing_table,
        record_key,
        landed_file,
        disposition,
        quarantine_reason,
        observed_at,
        {% for identifier_type in identity_identifier_types() %}
        {{ identifier_type }}_key,
        {% endfor %}
        row_hash,
        cast(version_at as {{ dbt.type_timestamp() }}) as version_at,
        parent_record_key,
        {{ run_stamp() }} as changed_at
    from dispositions
)

select * from final
