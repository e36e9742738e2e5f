{#
    Blocking (severity error, the default): every withdrawal, consent row and deletion request
    is applied, or acknowledged by an operator (privacy_unapplied_rows). The failing rows are
    named in the run's output by table, key, reason and fingerprint: no personal data.
#}
{%- set unapplied = ref('privacy_unapplied_rows') -%}
{%- set relation = adapter.get_relation(
    database=unapplied.database, schema=unapplied.schema, identifier=unapplied.identifier
) if execute else none -%}
{%- set found = run_query(
    "select landing_table, record_key, reason, row_fingerprint from " ~ relation
    ~ " where not is_acknowledged order by landing_table, record_key limit 50"
) if relation is not none else none -%}
{%- for row in (found.rows if found is not none else []) -%}
{%- do log(
    "not applied: " ~ row[0] ~ " " ~ (row[1] or "(no key)") ~ ": " ~ row[2]
    ~ " (fingerprint " ~ row[3] ~ "; acknowledge it in CDP_ACKNOWLEDGED_UNAPPLIED_ROWS once resolved)",
    info=true,
) -%}
{%- endfor %}

select
    landing_table,
    record_key,
    reason,
    row_fingerprint
from {{ ref('privacy_unapplied_rows') }}
where not is_acknowledged
