{#
    The log of records whose customer may have changed, one row per record and run
    (docs/adr/0004): int_identity__record_customers and identity_unresolved_records read the
    records logged since their own last successful run (changed_records()), so the set, which
    takes a pass over every observation, is found once per run. A run logs the records carrying
    an identifier whose customer may have changed (affected_records()). A full build logs every
    record.
#}
{%- set inputs = model_inputs(
    ref('int_identity__identifiers'),
    ref('int_identity__components'),
    ref('int_identity__observations')
) -%}
select
    affected.record_source,
    affected.record_key,
    {{ run_stamp() }} as changed_at
from ({{ affected_records(inputs) }}) as affected
