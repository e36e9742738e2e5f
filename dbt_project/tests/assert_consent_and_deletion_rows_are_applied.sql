{#
    Blocking (severity error, the default): every withdrawal, consent row and deletion request
    is applied, or acknowledged by an operator (privacy_unapplied_rows). The failing rows are
    named in the run's output by table, key, reason and fingerprint: no personal data.
#}
{%- if execute -%}
    {%- set relation = adapter.get_relation(
        database=ref('privacy_unapplied_rows').database,
        schema=ref('privacy_unapplied_rows').schema,
        identifier=ref('privacy_unapplied_rows').identifier,
    ) -%}
    {%- if relation is not none -%}
        {%- set found = run_query(
            "select landing_table, record_key, reason, row_fingerprint from " ~ relation
            ~ " where not is_acknowledged order by landing_table, record_key limit 50"
        ) -%}
        {%- for row in found.rows -%}
            {%- do log(
                "not applied: " ~ row[0] ~ " " ~ (row[1] or "(no key)") ~ ": " ~ row[2]
                ~ " (fingerprint " ~ row[3] ~ "; acknowledge it in CDP_ACKNOWLEDGED_UNAPPLIED_ROWS"
                ~ " once resolved)",
                info=true,
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endif -%}

select
    landing_table,
    record_key,
    reason,
    row_fingerprint
from {{ ref('privacy_unapplied_rows') }}
where not is_acknowledged
