{#
    Every landed row ends in exactly one disposition, so that a test can account for all of
    them (staged + superseded + duplicate_delivery + quarantined = landed):

        quarantined          the row cannot be used (missing key, unreadable required field);
                             `_quarantine_reason` says why
        staged               the version kept: latest `version_column`, then latest file
        duplicate_delivery   an identical copy of a row already counted (at-least-once delivery)
        superseded           an older version of the same entity

    For append-only event tables (no version column) every repeat of a key is a duplicate
    delivery. `_row_hash` makes ties deterministic.

    The ranking is a total order over the rows of a key, so the staged row of a set of rows is
    also the staged row of (the staged row of any subset) + (the rest): an incremental staging
    model ranks only the new rows against the row it staged before and gets the same answer
    as a ranking over every landed row (docs/adr/0002). `prefix` names the two CTEs when one
    model ranks several tables.
#}
{% macro landing_dispositions(from_cte, key_column, version_column=none, prefix='') -%}
    {{ prefix }}ranked_versions as (
        select
            {{ from_cte }}.*,
            case
                when _quarantine_reason is null then row_number() over (
                    partition by {{ key_column }}, (_quarantine_reason is null)
                    order by
                        {% if version_column %}{{ version_column }} desc nulls last,{% endif %}
                        _landed_file desc,
                        _row_hash
                )
            end as _version_rank
        from {{ from_cte }}
    ),

    {{ prefix }}with_dispositions as (
        select
            *,
            case
                when _quarantine_reason is not null then 'quarantined'
                when _version_rank = 1 then 'staged'
                {% if version_column %}
                    when _version_rank > min(_version_rank) over (
                        partition by {{ key_column }}, _row_hash
                    ) then 'duplicate_delivery'
                    else 'superseded'
                {% else %}
                    else 'duplicate_delivery'
                {% endif %}
            end as _disposition
        from {{ prefix }}ranked_versions
    )
{%- endmacro %}


{#- A fingerprint of a landed row's raw values: equal rows get equal fingerprints. It breaks
    ties between versions of a key that share a version and a file, and spots identical
    re-deliveries. It is the same md5 on every engine, so every engine keeps the same version
    of a tie (an engine's own fast hash would order ties differently on each). `columns` are
    the landing table's (landing_table(...).columns), quoted here (`timestamp` is a keyword). -#}
{% macro row_hash(relation_alias, columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ relation_alias ~ "." ~ adapter.quote(column) ~ " as " ~ dbt.type_string() ~ "), '')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
