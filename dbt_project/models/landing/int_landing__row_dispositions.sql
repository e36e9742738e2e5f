{#
    Every landed row, read once: what happened to it (staged, superseded by a newer version,
    a duplicate delivery, or quarantined with a reason), when it was observed, and the hashed
    keys of the identifiers it carries. Keys, hashes and file names only: no personal data.
    The identity graph and the landing audit both start here, so the landing files are
    parsed once for them.

    Base models of incrementally staged tables stop before dispositions (see landing_tables()),
    so their rows are ranked here, over every landed row, with the same macro.
#}
with

-- noqa: disable=LT02
{% for table in landing_tables() if table.get('incremental') %}
    {{ table.model }}_rows as (
        select * from {{ ref(table.model) }}
    ),

    {{ landing_dispositions(
        table.model ~ '_rows', table.key, table.get('version'), prefix=table.model ~ '_'
    ) }},
{% endfor %}

dispositions as (
    {% for table in landing_tables() %}
        select
            '{{ table.name }}' as landing_table,
            {{ table.key }} as record_key,
            _landed_file as landed_file,
            _disposition as disposition,
            _quarantine_reason as quarantine_reason,
            {{ table.observed_at }} as observed_at,
            {% for identifier_type in identity_identifier_types() %}
                {% if identifier_type in table.identifiers %}
                    {{ identifier_key("'" ~ identifier_type ~ "'", table.identifiers[identifier_type]) }}
                {% else %}
                    cast(null as {{ dbt.type_string() }})
                {% endif %} as {{ identifier_type }}_key{{ ',' if not loop.last }}
            {% endfor %}
        {% if table.get('incremental') %}
            from {{ table.model }}_with_dispositions
        {% else %}
            from {{ ref(table.model) }}
        {% endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
)

select * from dispositions
