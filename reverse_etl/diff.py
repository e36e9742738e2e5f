"""The delta between what a sync's source wants at a destination and what it last acknowledged.

Everything here is SQL run by the warehouse: desired rows, their canonical payloads, the
md5 of each payload, and the comparison against `reverse_etl.sync_state`. The engine only
streams the result, ordered by operation then record key so every run sends in the same
order and a resumed run picks up exactly where the last acknowledged batch ended.
"""

from __future__ import annotations

from dataclasses import dataclass

from reverse_etl.config import SyncConfig
from reverse_etl.dialect import DUCKDB, Dialect
from reverse_etl.results import ADD, CHANGE, ERASE, OPERATIONS, REMOVE
from reverse_etl.state import SYNC_RECIPIENTS, SYNC_REJECTIONS, SYNC_STATE

__all__ = [
    "ADD",
    "CHANGE",
    "ERASE",
    "OPERATIONS",
    "REMOVE",
    "DeltaOptions",
    "delta_query",
    "mass_change_counts_query",
    "skipped_counts_query",
]


def _record_key(sync: SyncConfig, dialect: Dialect) -> str:
    parts = [f"cast(source.{dialect.quote(column)} as string)" for column in sync.identifiers]
    return parts[0] if len(parts) == 1 else "concat_ws('|', " + ", ".join(parts) + ")"


def _payload(sync: SyncConfig, dialect: Dialect) -> str:
    # Keys in sorted order make the JSON text, and so its md5, canonical.
    return dialect.json_object(
        [(field, f"source.{dialect.quote(sync.fields[field])}") for field in sorted(sync.fields)]
    )


@dataclass(frozen=True)
class DeltaQuery:
    sql: str
    params: list[object]


def _keyed_source(
    sync: SyncConfig,
    dialect: Dialect,
    *,
    apply_erasure: bool,
    apply_consent: bool,
    withdrawal_recorded: bool = False,
) -> str:
    """CTEs `source`, `keyed` and `erased`: every source row with its key, payload and flags.

    Consent is the sync's own purpose: `consent_<purpose>` of the consent relation (by
    customer id) when it applies, else the source's consent column. `is_withdrawn` marks a
    person whose lack of consent is a recorded decision (`consent_<purpose>_recorded_at` of
    the consent relation is set, when `withdrawal_recorded`), as opposed to consent that is
    merely missing; the mass-change guard never holds back the removal of the former.
    """
    quote, quote_relation = dialect.quote, dialect.quote_relation
    key_present = " and ".join(f"source.{quote(column)} is not null" for column in sync.identifiers)
    erased_condition = "false"
    # Erased people may already be gone from the source; when the record key is the customer
    # id, their keys are taken straight from the erasure relation.
    erased_keys = "select cast(null as string) as record_key where false"
    if apply_erasure and sync.erasure_relation:
        erasure = quote_relation(sync.erasure_relation)
        erased_condition = (
            f"exists (select 1 from {erasure} as erasure"
            " where erasure.customer_id = source.customer_id and erasure.is_erased)"
        )
        if sync.identifiers == ["customer_id"]:
            erased_keys = (
                f"select cast(customer_id as string) as record_key from {erasure} where is_erased"
            )
    if apply_consent and sync.consent_relation:
        consent_column = quote(f"consent_{sync.consent_purpose}")
        consent = (
            f"coalesce((select consent.{consent_column} from"
            f" {quote_relation(sync.consent_relation)} as consent"
            " where consent.customer_id = source.customer_id), false)"
        )
    else:
        consent = f"coalesce(source.{quote(sync.consent_column)}, false)"
    withdrawn = "false"
    if apply_consent and sync.consent_relation and withdrawal_recorded:
        consent_column = quote(f"consent_{sync.consent_purpose}")
        recorded_column = quote(f"consent_{sync.consent_purpose}_recorded_at")
        withdrawn = (
            f"coalesce((select not consent.{consent_column}"
            f" and consent.{recorded_column} is not null"
            f" from {quote_relation(sync.consent_relation)} as consent"
            " where consent.customer_id = source.customer_id), false)"
        )
    holdout = f"coalesce(source.{quote(sync.holdout_column)}, false)"
    return f"""
    source as (
        select * from {quote_relation(sync.source)}
    ),

    keyed as (
        select
            {_record_key(sync, dialect)} as record_key,
            {_payload(sync, dialect)} as payload,
            {consent} as has_consent,
            {holdout} as is_holdout,
            {erased_condition} as is_erased,
            {withdrawn} as is_withdrawn
        from source
        where {key_present}
    ),

    erased as (
        select record_key from keyed where is_erased
        union
        {erased_keys}
    )"""


@dataclass(frozen=True)
class DeltaOptions:
    """What the delta may rely on; the engine reads it from the warehouse once per run.

    `full_resync` ignores the state for additions and changes: everything desired is sent
    again as an addition. `apply_erasure`/`apply_consent`: the erasure and consent relations
    exist. Without `state_exists` (a dry run before the first real one) the state is taken as
    empty; `recipients_exist` likewise for `sync_recipients`. `withdrawal_recorded`: the
    consent relation says when a withdrawal was recorded (`consent_<purpose>_recorded_at`).
    """

    full_resync: bool = False
    apply_erasure: bool = False
    apply_consent: bool = False
    state_exists: bool = True
    recipients_exist: bool = True
    withdrawal_recorded: bool = False


def delta_query(
    sync: SyncConfig,
    dialect: Dialect = DUCKDB,
    options: DeltaOptions = DeltaOptions(),
    *,
    only_guard_exempt: bool = False,
) -> DeltaQuery:
    """The SQL yielding (operation, record_key, payload, payload_hash, destination_id).

    Desired rows are source rows that are not holdout, have consent for the sync's purpose
    and (when the erasure relation exists) are not erased. A record that was sent and has
    since lost consent is removed in both modes, and one whose person was erased is erased
    (removed, and deleted where the destination can); in `mirror` mode anything else that
    left the source is removed too. Records that are dead letters for an operation are left
    out until their dead letters are cleared. An erased person the destination no longer
    holds but once acknowledged (`sync_recipients`: removed earlier, after a consent
    withdrawal or a segment exit) is erased too, once: the erasure's acknowledgement marks
    the recipient erased. See `DeltaOptions` for what the options change. `dialect` is the
    warehouse's: the algorithm is the same everywhere, only a few fragments are spelled
    differently.

    Each row also says whether the mass-change guard lets it through even when it refuses
    the run (`guard_exempt`: an erasure, or the removal of someone whose withdrawal of
    consent is recorded); `only_guard_exempt` keeps only those rows.
    """
    ctes, params = _delta_ctes(sync, dialect, options)
    where = "where guard_exempt" if only_guard_exempt else ""
    sql = f"""
    {ctes}

    select * from final
    {where}
    order by operation, record_key
    """
    return DeltaQuery(sql=sql, params=params)


def mass_change_counts_query(
    sync: SyncConfig, dialect: Dialect = DUCKDB, options: DeltaOptions = DeltaOptions()
) -> DeltaQuery:
    """One row: what the destination holds (the acknowledged state), what is desired, and the
    delta's size by operation, removals split into held-back-able and exempt ones.

    Columns: held, desired, added, changed, removed, withdrawn, erased.
    """
    ctes, params = _delta_ctes(sync, dialect, options)

    def count(condition: str) -> str:
        return f"coalesce(sum(case when {condition} then 1 else 0 end), 0)"

    sql = f"""
    {ctes}

    select
        (select count(*) from state) as held,
        (select count(*) from desired) as desired,
        {count(f"operation = '{ADD}'")} as added,
        {count(f"operation = '{CHANGE}'")} as changed,
        {count(f"operation = '{REMOVE}' and not guard_exempt")} as removed,
        {count(f"operation = '{REMOVE}' and guard_exempt")} as withdrawn,
        {count(f"operation = '{ERASE}'")} as erased
    from final
    """
    return DeltaQuery(sql=sql, params=params)


def _delta_ctes(
    sync: SyncConfig, dialect: Dialect, options: DeltaOptions
) -> tuple[str, list[object]]:
    """The delta's CTEs, ending with `final`; see `delta_query`."""
    full_resync, apply_erasure, apply_consent = (
        options.full_resync,
        options.apply_erasure,
        options.apply_consent,
    )
    state_exists, recipients_exist, withdrawal_recorded = (
        options.state_exists,
        options.recipients_exist,
        options.withdrawal_recorded,
    )
    sync_name = dialect.parameter(1)
    anti_join, semi_join = dialect.anti_join, dialect.semi_join
    if sync.mode == "mirror":
        removal_filter = "true"
    else:
        removal_filter = "state.record_key in (select record_key from must_remove)"
    compared_state = "(select * from state where false)" if full_resync else "state"
    state_relation, rejections_relation = SYNC_STATE, SYNC_REJECTIONS
    recipients_relation = SYNC_RECIPIENTS
    if not (state_exists and recipients_exist):
        recipients_relation = (
            f"(select {sync_name} as sync_name, '' as record_key,"
            " cast(null as string) as destination_id,"
            " cast(null as timestamp) as erased_at where false)"
        )
    if not state_exists:
        state_relation = (
            f"(select {sync_name} as sync_name, '' as record_key, '' as payload_hash,"
            " cast(null as string) as destination_id where false)"
        )
        rejections_relation = (
            f"(select {sync_name} as sync_name, '' as record_key, '' as operation,"
            " false as is_dead_letter where false)"
        )

    keyed_source = _keyed_source(
        sync,
        dialect,
        apply_erasure=apply_erasure,
        apply_consent=apply_consent,
        withdrawal_recorded=withdrawal_recorded,
    )
    ctes = f"""
    with {keyed_source},

    eligible as (
        select record_key, payload
        from keyed
        where has_consent and not is_holdout and not is_erased
    ),

    -- A key on several eligible rows keeps its smallest payload, so every run picks the
    -- same one. Only the (normally absent) repeated keys are grouped: grouping every row
    -- with its payload would cost more than the rest of the delta together.
    repeated_keys as (
        select record_key
        from eligible
        group by record_key
        having count(*) > 1
    ),

    desired as (
        select eligible.record_key, eligible.payload
        from eligible
        {anti_join} repeated_keys on eligible.record_key = repeated_keys.record_key
        union all
        select eligible.record_key, min(eligible.payload) as payload
        from eligible
        {semi_join} repeated_keys on eligible.record_key = repeated_keys.record_key
        group by eligible.record_key
    ),

    must_remove as (
        select record_key from keyed where not has_consent
        union
        select record_key from erased
        except
        select record_key from desired
    ),

    withdrawn as (
        select record_key from keyed where is_withdrawn
        except
        select record_key from desired
    ),

    hashed as (
        select record_key, payload, md5(payload) as payload_hash from desired
    ),

    state as (
        select record_key, payload_hash, destination_id
        from {state_relation} as sync_state
        where sync_name = {sync_name}
    ),

    dead_letters as (
        select record_key, operation
        from {rejections_relation} as sync_rejections
        where sync_name = {sync_name} and is_dead_letter
    ),

    additions as (
        select '{ADD}' as operation, hashed.record_key, hashed.payload, hashed.payload_hash,
            cast(null as string) as destination_id, false as guard_exempt
        from hashed
        {anti_join} {compared_state} as state on hashed.record_key = state.record_key
    ),

    changes as (
        select '{CHANGE}' as operation, hashed.record_key, hashed.payload, hashed.payload_hash,
            state.destination_id, false as guard_exempt
        from hashed
        inner join {compared_state} as state on hashed.record_key = state.record_key
        where hashed.payload_hash <> state.payload_hash
    ),

    removals as (
        select
            case
                when state.record_key in (select record_key from erased) then '{ERASE}'
                else '{REMOVE}'
            end as operation,
            state.record_key, cast(null as string) as payload,
            cast(null as string) as payload_hash, state.destination_id,
            state.record_key in (select record_key from erased)
            or state.record_key in (select record_key from withdrawn) as guard_exempt
        from state
        {anti_join} hashed on state.record_key = hashed.record_key
        where {removal_filter}
    ),

    -- Erased people a destination once acknowledged and no longer holds: the removal took
    -- them off a list, but the vendor's deletion was never asked for.
    past_recipients as (
        select record_key, destination_id
        from {recipients_relation} as sync_recipients
        where sync_name = {sync_name} and erased_at is null
    ),

    late_erasures as (
        select '{ERASE}' as operation, past_recipients.record_key,
            cast(null as string) as payload, cast(null as string) as payload_hash,
            past_recipients.destination_id, true as guard_exempt
        from past_recipients
        {semi_join} erased on past_recipients.record_key = erased.record_key
        {anti_join} state on past_recipients.record_key = state.record_key
    ),

    delta as (
        select * from additions
        union all
        select * from changes
        union all
        select * from removals
        union all
        select * from late_erasures
    ),

    final as (
        select delta.*
        from delta
        {anti_join} dead_letters
            on delta.record_key = dead_letters.record_key
            and delta.operation = dead_letters.operation
    )"""
    return ctes, [sync.name]


def skipped_counts_query(
    sync: SyncConfig,
    dialect: Dialect = DUCKDB,
    *,
    apply_erasure: bool = False,
    apply_consent: bool = False,
) -> str:
    """SQL counting the source's holdout members and its members left out for lack of consent."""
    return f"""
    with {_keyed_source(sync, dialect, apply_erasure=apply_erasure, apply_consent=apply_consent)}

    select
        count(*) filter (where is_holdout) as skipped_holdout,
        count(*) filter (where not is_holdout and not has_consent) as skipped_consent
    from keyed
    """
