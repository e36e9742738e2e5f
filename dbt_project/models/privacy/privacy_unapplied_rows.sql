{#
    Consent events and deletion requests the pipeline must apply and cannot: a withdrawal or
    erasure request that names no readable identifier, or a consent row whose status says
    neither yes nor no (base_consent__events, base_privacy__deletion_requests say what is
    normalized and what is applied anyway), and a grant or erasure request whose phone has no
    country code and matches several customers (int_privacy__national_phone_matches:
    "national phone matches 2 customers in ES, FR"). One that matches nobody is not listed, as
    a request for an email nobody has is not: there is no one to apply it to, and the matches
    are found again on every run, so someone who lands later with that phone gets it. Nor is a
    deletion request that was applied in an earlier run and matches several customers now:
    it stays applied to the one it erased (int_privacy__applied_erasures). Keys, reasons, files and row fingerprints
    only: no personal data. The blocking test assert_consent_and_deletion_rows_are_applied fails while
    any row here is not acknowledged; an operator who has resolved a row outside the pipeline
    (e.g. asked the requester for a valid address) acknowledges it by its fingerprint in the
    `acknowledged_unapplied_rows` var (CDP_ACKNOWLEDGED_UNAPPLIED_ROWS, comma-separated).
    Rebuilt from every landed file of the two tables on every run.
#}
{%- set configured = var('acknowledged_unapplied_rows', '') -%}
{%- set entries = configured if configured is not string else configured.split(',') -%}
{%- set acknowledged = entries | map('string') | map('trim') | map('lower') | reject('equalto', '') | list -%}
{%- for fingerprint in acknowledged if not modules.re.match('^[0-9a-f]{32}$', fingerprint) -%}
{{ exceptions.raise_compiler_error(
    "CDP_ACKNOWLEDGED_UNAPPLIED_ROWS (var acknowledged_unapplied_rows): '" ~ fingerprint
    ~ "' is not a row fingerprint (32 hex digits)"
) }}
{%- endfor -%}
{%- set is_acknowledged = 'false' -%}
{%- if acknowledged -%}
{%- set is_acknowledged = "row_fingerprint in ('" ~ acknowledged | join("', '") ~ "')" -%}
{%- endif -%}

with

unapplied as (
    select
        'consent/events' as landing_table,
        consent_event_id as record_key,
        _quarantine_reason as reason,
        _landed_file as landed_file,
        _row_hash as row_fingerprint
    from {{ ref('base_consent__events') }}
    where _quarantine_reason is not null and _must_apply

    union all

    select
        'privacy/deletion_requests' as landing_table,
        deletion_request_id as record_key,
        _quarantine_reason as reason,
        _landed_file as landed_file,
        _row_hash as row_fingerprint
    from {{ ref('base_privacy__deletion_requests') }}
    where _quarantine_reason is not null and _must_apply

    union all

    select distinct
        landing_table,
        record_key,
        'national phone matches ' || cast(match_count as {{ dbt.type_string() }})
        || ' customers in ' || matched_countries as reason,
        landed_file,
        row_fingerprint
    from {{ ref('int_privacy__national_phone_matches') }}
    where
        is_current
        and not applies_to_every_match
        and match_count > 1
        -- A deletion request applied in an earlier run stays applied
        -- (int_privacy__applied_erasures), whatever it matches now.
        and not (
            landing_table = 'privacy/deletion_requests'
            and record_key in (
                select applied_erasures.deletion_request_id
                from {{ ref('int_privacy__applied_erasures') }} as applied_erasures
            )
        )
),

final as (
    select
        landing_table,
        record_key,
        reason,
        landed_file,
        row_fingerprint,
        {{ is_acknowledged }} as is_acknowledged
    from unapplied
)

select * from final
