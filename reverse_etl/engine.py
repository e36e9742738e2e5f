"""Run one sync: compute the delta in the warehouse, send it in batches, commit per batch.

The guarantee a caller relies on: after every batch the destination acknowledges, that
batch's records are committed to `reverse_etl.sync_state` atomically (one transaction; on
Spark one appended file), together with its rejections and the run's counters. A run that
crashes or is killed therefore resumes on the next run without resending what was
acknowledged and without losing a change; the one batch in flight at the moment of the crash
may be sent again (at-least-once per batch).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from reverse_etl.config import SyncConfig
from reverse_etl.destinations.base import Destination
from reverse_etl.diff import (
    DeltaOptions,
    delta_query,
    mass_change_counts_query,
    skipped_counts_query,
)
from reverse_etl.guard import mass_change_reason
from reverse_etl.interfaces import SyncState, Warehouse
from reverse_etl.redaction import (
    MAX_DETAIL_LENGTH,
    describe_error,
    redact,
    register_env_secret,
)
from reverse_etl.results import (
    BLOCKED,
    DRY_RUN,
    FAILED,
    RUNNING,
    SUCCESS,
    Batch,
    BatchCommit,
    BatchResult,
    DeltaCounts,
    Record,
    SyncConfigError,
    SyncRunResult,
)
from reverse_etl.state import SYNC_RECIPIENTS, SYNC_REJECTIONS, SYNC_STATE

__all__ = ["SyncRunResult", "assess_mass_change", "recorded_error", "run_sync"]

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _records(warehouse: Warehouse, sql: str, params: list[object], size: int) -> Iterator[Record]:
    for record_batch in warehouse.stream(sql, size, params):
        for row in record_batch.to_pylist():
            payload = row["payload"]
            yield Record(
                operation=row["operation"],
                record_key=row["record_key"],
                payload=json.loads(payload) if payload is not None else None,
                payload_hash=row["payload_hash"],
                destination_id=row["destination_id"],
            )


def _batches(sync_name: str, records: Iterator[Record], size: int) -> Iterator[Batch]:
    """Group the ordered delta into batches of one operation and at most `size` records."""
    pending: list[Record] = []
    for record in records:
        if pending and (len(pending) == size or pending[0].operation != record.operation):
            yield Batch(sync_name, pending[0].operation, pending)
            pending = []
        pending.append(record)
    if pending:
        yield Batch(sync_name, pending[0].operation, pending)


def _secrets_of(sync: SyncConfig, destination: Destination) -> list[str]:
    secrets = [os.environ.get(name, "") for name in sync.secret_env]
    secrets.extend(destination.secrets)
    return [secret for secret in secrets if secret]


def _sent_values(batch: Batch | None) -> list[Any]:
    """What a batch sent about people: a destination that echoes it back must not be stored."""
    if batch is None:
        return []
    return [record.payload for record in batch.records if record.payload is not None]


def _commit_batch(
    state: SyncState,
    sync: SyncConfig,
    destination: Destination,
    batch: Batch,
    result: BatchResult,
    run: SyncRunResult,
    now: datetime,
) -> None:
    by_key = {record.record_key: record for record in batch.records}
    acknowledged = [key for key in result.acknowledged if key in by_key]
    rejected = {
        key: reason
        for key, reason in result.rejected.items()
        if key in by_key and key not in result.acknowledged
    }
    for key in by_key.keys() - acknowledged - rejected.keys():
        rejected[key] = "not acknowledged by the destination"
    # A reason is the destination's (or a check's) words; the record's own data is not kept.
    rejected = {
        key: redact(
            reason,
            _secrets_of(sync, destination),
            values=[by_key[key].payload] if by_key[key].payload else [],
            limit=MAX_DETAIL_LENGTH,
        )
        for key, reason in rejected.items()
    }
    counters = (run.added, run.changed, run.removed, run.failed, run.requests)
    run.count_acknowledged(batch.operation, len(acknowledged))
    run.failed += len(rejected)
    run.requests += result.requests
    commit = BatchCommit(
        sync_name=sync.name,
        operation=batch.operation,
        # A removal keeps the id it was sent with: a later erasure needs it there.
        acknowledged=[
            (
                key,
                by_key[key].payload_hash,
                result.acknowledged[key] or by_key[key].destination_id,
            )
            for key in acknowledged
        ],
        rejected=rejected,
        max_rejection_attempts=sync.max_rejection_attempts,
        committed_at=now,
    )
    try:
        state.commit_batch(commit, run)
    except BaseException:
        # Nothing of the batch was committed, so the counters must not count it either.
        run.added, run.changed, run.removed, run.failed, run.requests = counters
        raise


def _check_consent_column(warehouse: Warehouse, sync: SyncConfig) -> None:
    dialect = warehouse.dialect
    column = dialect.quote(f"consent_{sync.consent_purpose}")
    try:
        warehouse.fetchall(
            f"select {column} from {dialect.quote_relation(str(sync.consent_relation))} limit 0"
        )
    except Exception as error:
        raise SyncConfigError(
            f"sync '{sync.name}': field 'consent_purpose': {sync.consent_relation} has no column"
            f" consent_{sync.consent_purpose} ({type(error).__name__})"
        ) from None


def _has_column(warehouse: Warehouse, relation: str, column: str) -> bool:
    dialect = warehouse.dialect
    try:
        warehouse.fetchall(
            f"select {dialect.quote(column)} from {dialect.quote_relation(relation)} limit 0"
        )
    except Exception:
        return False
    return True


def _delta_counts(sync: SyncConfig, warehouse: Warehouse, options: DeltaOptions) -> DeltaCounts:
    query = mass_change_counts_query(sync, warehouse.dialect, options)
    return DeltaCounts.from_row(warehouse.fetchall(query.sql, query.params)[0])


def _delta_options(
    sync: SyncConfig,
    warehouse: Warehouse,
    *,
    full_resync: bool,
    state_exists: bool,
    recipients_exist: bool,
    check_consent_column: bool = False,
) -> DeltaOptions:
    """What the delta may rely on, read from the warehouse: which of the sync's erasure and
    consent relations exist, and whether withdrawals of consent carry their time."""
    apply_erasure = bool(sync.erasure_relation) and warehouse.relation_exists(
        str(sync.erasure_relation)
    )
    apply_consent = bool(sync.consent_relation) and warehouse.relation_exists(
        str(sync.consent_relation)
    )
    if apply_consent and check_consent_column:
        _check_consent_column(warehouse, sync)
    return DeltaOptions(
        full_resync=full_resync,
        apply_erasure=apply_erasure,
        apply_consent=apply_consent,
        state_exists=state_exists,
        recipients_exist=recipients_exist,
        withdrawal_recorded=apply_consent
        and _has_column(
            warehouse, str(sync.consent_relation), f"consent_{sync.consent_purpose}_recorded_at"
        ),
    )


def assess_mass_change(
    sync: SyncConfig, warehouse: Warehouse
) -> tuple[DeltaCounts | None, str | None]:
    """What the next run of `sync` would do and why the guard would refuse it (or None).

    Reads only: for checks that must judge a sync before it runs. (None, None) when the
    sync has no acknowledged state yet (nothing held, so nothing to guard).
    """
    if not (warehouse.relation_exists(SYNC_STATE) and warehouse.relation_exists(SYNC_REJECTIONS)):
        return None, None
    options = _delta_options(
        sync,
        warehouse,
        full_resync=False,
        state_exists=True,
        recipients_exist=warehouse.relation_exists(SYNC_RECIPIENTS),
    )
    counts = _delta_counts(sync, warehouse, options)
    return counts, mass_change_reason(counts, sync.mass_change)


def recorded_error(error: BaseException) -> str:
    """What the run log recorded for an error `run_sync` raised, else `error` redacted.

    `run_sync` re-raises the original exception; its own message may hold a secret or what the
    destination echoed, so callers that show or store it use this text instead.
    """
    recorded = getattr(error, "sync_error", None)
    return recorded if isinstance(recorded, str) else describe_error(error)


def run_sync(
    sync: SyncConfig,
    warehouse: Warehouse,
    destination: Destination,
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    allow_mass_change: bool = False,
    sample_size: int = 5,
    now: Callable[[], datetime] = _utc_now,
) -> SyncRunResult:
    """Bring the destination in line with the sync's source; see the module docstring.

    A dry run computes the delta and returns its counts and a few sample payloads without
    calling the destination or writing anything. `full_resync` ignores the state: every
    desired record is sent as an addition, and what the state holds but is no longer
    desired is removed. Exceptions are recorded in `sync_runs` (redacted) and re-raised.

    Before sending, the mass-change guard (`reverse_etl.guard`) compares the delta with the
    acknowledged state; when it refuses the run, only erasures and recorded consent
    withdrawals are sent and the run ends with status `blocked` (recorded in the run log
    with the reason) unless `allow_mass_change` overrides it, which is recorded as well.
    """
    run = SyncRunResult(
        run_id=uuid.uuid4().hex, sync_name=sync.name, status=RUNNING, started_at=now()
    )
    state_exists = warehouse.relation_exists(SYNC_STATE) and warehouse.relation_exists(
        SYNC_REJECTIONS
    )
    recipients_exist = state_exists and warehouse.relation_exists(SYNC_RECIPIENTS)
    state = warehouse.sync_state()
    if not dry_run:
        state.ensure()
        state_exists = recipients_exist = True
    options = _delta_options(
        sync,
        warehouse,
        full_resync=full_resync,
        state_exists=state_exists,
        recipients_exist=recipients_exist,
        check_consent_column=True,
    )
    blocked_reason = None
    if sync.mass_change.enabled:
        run.counts = _delta_counts(sync, warehouse, options)
        reason = mass_change_reason(run.counts, sync.mass_change)
        if reason and allow_mass_change:
            run.mass_change = f"allowed by override: {reason}"
            log.warning("sync %s: %s", sync.name, run.mass_change)
        elif reason:
            run.mass_change = blocked_reason = reason
    query = delta_query(
        sync,
        warehouse.dialect,
        options,
        only_guard_exempt=blocked_reason is not None and not dry_run,
    )
    skipped_holdout, skipped_consent = warehouse.fetchall(
        skipped_counts_query(
            sync,
            warehouse.dialect,
            apply_erasure=options.apply_erasure,
            apply_consent=options.apply_consent,
        )
    )[0]
    run.skipped_holdout, run.skipped_consent = int(skipped_holdout), int(skipped_consent)
    batch_size = min(sync.batch_size, destination.max_batch_size)
    records = _records(warehouse, query.sql, query.params, batch_size)

    if dry_run:
        for record in records:
            run.planned[record.operation] += 1
            if len(run.sample_payloads) < sample_size:
                run.sample_payloads.append(
                    {"operation": record.operation, "record_key": record.record_key}
                    | ({"payload": record.payload} if record.payload is not None else {})
                )
        run.status, run.finished_at = DRY_RUN, now()
        return run

    for name in sync.secret_env:
        register_env_secret(name)
    state.start_run(run)
    batch: Batch | None = None
    try:
        for batch in _batches(sync.name, records, batch_size):
            run.planned[batch.operation] += len(batch.records)
            result = destination.send(batch)
            _commit_batch(state, sync, destination, batch, result, run, now())
    except BaseException as error:
        run.status, run.finished_at = FAILED, now()
        run.error = redact(
            f"{type(error).__name__}: {error}",
            _secrets_of(sync, destination),
            values=_sent_values(batch),
            limit=MAX_DETAIL_LENGTH,
        )
        state.record_run(run)
        log.error("sync %s run %s failed: %s", sync.name, run.run_id, run.error)
        with contextlib.suppress(AttributeError, TypeError):
            error.sync_error = run.error  # type: ignore[attr-defined]  # see recorded_error()
        raise
    if blocked_reason is not None:
        run.status, run.finished_at = BLOCKED, now()
        run.error = (
            f"{blocked_reason}; held back, only erasures and recorded consent withdrawals"
            " were sent (fix the data, or override the mass-change guard explicitly)"
        )
        state.record_run(run)
        log.error("sync %s run %s blocked: %s", sync.name, run.run_id, run.error)
        return run
    run.status, run.finished_at = SUCCESS, now()
    state.record_run(run)
    state.finish()
    log.info(
        "sync %s run %s: %d added, %d changed, %d removed, %d failed, %d requests",
        sync.name,
        run.run_id,
        run.added,
        run.changed,
        run.removed,
        run.failed,
        run.requests,
    )
    return run
