{#
    Which identifiers each usable landed record carries (every version, so an email used
    before a change still links): the bridge from records to the identity graph. Values are
    hashed (identifier_key); no personal data is stored here. `node_id` is the identifier's node
    in the graph (int_identity__identifiers): a number, cheaper to match than the key.

    Incremental: the dispositions rewrite every row of a record that new data touched, so the
    records changed since the last run are read whole and replace their observations.
#}

{%- set since = incremental_since() -%}
with

dispositions as (
    select * from {{ ref('int_landing__row_dispositions') }}
    where
        disposition <> 'quarantined'
    {% if since is not none %}and changed_at > {{ since }}{% endif %}
),

observations as (
    -- noqa: disable=LT02
    {% for identifier_type in identity_identifier_types() %}
        select
            landing_table as record_source,
            record_key,
            '{{ identifier_type }}' as identifier_type,
            {{ identifier_type }}_key as identifier_key,
            observed_at
        from dispositions
        where {{ identifier_type }}_key is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
    -- noqa: enable=LT02
),

final as (
    select
        record_source,
        record_key,
        identifier_type,
        identifier_key,
        {{ identifier_node_id('identifier_key') }} as node_id,
        min(observed_at) as observed_at,
        {{ run_stamp() }} as changed_at
    from observations
    group by record_source, record_key, identifier_type, identifier_key
)

select * from final
