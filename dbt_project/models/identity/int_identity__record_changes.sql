{{
    config(
        materialized=('table' if target.type == 'spark' else 'incremental'),
        incremental_strategy='append',
        post_hook="{{ record_incremental_run() }}",
    )
}}

{#
    The log of records whose customer may have changed, one row per record and run
    (docs/adr/0004): int_identity__record_customers and identity_unresolved_records read the
    records logged since their own last successful run (changed_records()), so the set, which
    takes a pass over every observation, is found once per run. A run logs the records carrying
    an identifier whose customer may have changed (affected_records()). A full build logs every
    record.
#}
-- depends_on: {{ ref('int_identity__identifiers') }}
-- depends_on: {{ ref('int_identity__components') }}
select
    affected.record_source,
    affected.record_key,
    {{ run_stamp() }} as changed_at
from ({{ affected_records() }}) as affected
