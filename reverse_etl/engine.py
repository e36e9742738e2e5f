"""Run one sync: compute the delta in the warehouse, send it in batches, commit per batch.

The guarantee a caller relies on: after every batch the destination acknowledges, that
batch's records are committed to `reverse_etl.sync_state` in one transaction, together with
its rejections and the run's counters. A run that crashes or is killed therefore resumes on
the next run without resending what was acknowledged and without losing a change; the one
batch in flight at the moment of the crash may be sent again (at-least-once per batch).
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reverse_etl.config import SyncConfig, SyncConfigError
from reverse_etl.destinations.base import Batch, BatchResult, Destination, Record
from reverse_etl.diff import (
    ADD,
    CHANGE,
    ERASE,
    OPERATIONS,
    REMOVE,
    delta_query,
    quote,
    quote_relation,
    skipped_counts_query,
)
from reverse_etl.http import redact
from reverse_etl.state import SYNC_REJECTIONS, SYNC_RUNS, SYNC_STATE, ensure_state_tables
from reverse_etl.warehouse import Transaction, Warehouse

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class SyncRunResult:
    run_id: str
    sync_name: str
    status: str  # success | failed | dry_run
    started_at: datetime
    finished_at: datetime | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    failed: int = 0
    skipped_consent: int = 0
    skipped_holdout: int = 0
    requests: int = 0
    error: str | None = None
    planned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPERATIONS, 0))
    sample_payloads: list[dict[str, Any]] = field(default_factory=list)

    def count_acknowledged(self, operation: str, count: int) -> None:
        attribute = {ADD: "added", CHANGE: "changed", REMOVE: "removed", ERASE: "removed"}[
            operation
        ]
        setattr(self, attribute, getattr(self, attribute) + count)


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
    client = getattr(destination, "client", None)
    secrets.extend(getattr(client, "secrets", []))
    return [secret for secret in secrets if secret]


def _commit_batch(
    transaction: Transaction,
    sync: SyncConfig,
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

    if acknowledged and batch.operation in (REMOVE, ERASE):
        transaction.execute(
            f"delete from {SYNC_STATE} where sync_name = $1 and list_contains($2, record_key)",
            [sync.name, acknowledged],
        )
    elif acknowledged:
        transaction.execute(
            f"""
            insert or replace into {SYNC_STATE}
                (sync_name, record_key, payload_hash, destination_id, synced_at)
            select $1, unnest($2::varchar[]), unnest($3::varchar[]), unnest($4::varchar[]), $5
            """,
            [
                sync.name,
                acknowledged,
                [by_key[key].payload_hash for key in acknowledged],
                [result.acknowledged[key] for key in acknowledged],
                now,
            ],
        )
    if acknowledged:
        transaction.execute(
            f"delete from {SYNC_REJECTIONS} where sync_name = $1 and list_contains($2, record_key)",
            [sync.name, acknowledged],
        )
    if rejected:
        transaction.execute(
            f"""
            insert into {SYNC_REJECTIONS} as rejection
                (sync_name, record_key, operation, reason, attempts, first_seen_at,
                 last_seen_at, is_dead_letter)
            select $1, unnest($2::varchar[]), $3, unnest($4::varchar[]), 1, $5, $5, 1 >= $6
            on conflict (sync_name, record_key, operation) do update set
                reason = excluded.reason,
                attempts = rejection.attempts + 1,
                last_seen_at = excluded.last_seen_at,
                is_dead_letter = rejection.attempts + 1 >= $6
            """,
            [
                sync.name,
                list(rejected),
                batch.operation,
                list(rejected.values()),
                now,
                sync.max_rejection_attempts,
            ],
        )
    run.count_acknowledged(batch.operation, len(acknowledged))
    run.failed += len(rejected)
    run.requests += result.requests
    _write_counters(transaction, run)


def _write_counters(transaction: Transaction, run: SyncRunResult) -> None:
    transaction.execute(
        f"""
        update {SYNC_RUNS} set
            added = $2, changed = $3, removed = $4, failed = $5, requests = $6,
            status = $7, finished_at = $8, error = $9
        where run_id = $1
        """,
        [
            run.run_id,
            run.added,
            run.changed,
            run.removed,
            run.failed,
            run.requests,
            run.status,
            run.finished_at,
            run.error,
        ],
    )


def _check_consent_column(warehouse: Warehouse, sync: SyncConfig) -> None:
    column = quote(f"consent_{sync.consent_purpose}")
    try:
        warehouse.fetchall(
            f"select {column} from {quote_relation(str(sync.consent_relation))} limit 0"
        )
    except Exception as error:
        raise SyncConfigError(
            f"sync '{sync.name}': field 'consent_purpose': {sync.consent_relation} has no column"
            f" consent_{sync.consent_purpose} ({type(error).__name__})"
        ) from None


def run_sync(
    sync: SyncConfig,
    warehouse: Warehouse,
    destination: Destination,
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    sample_size: int = 5,
    now: Callable[[], datetime] = _utc_now,
) -> SyncRunResult:
    """Bring the destination in line with the sync's source; see the module docstring.

    A dry run computes the delta and returns its counts and a few sample payloads without
    calling the destination or writing anything. `full_resync` ignores the state: every
    desired record is sent as an addition, and what the state holds but is no longer
    desired is removed. Exceptions are recorded in `sync_runs` (redacted) and re-raised.
    """
    run = SyncRunResult(
        run_id=uuid.uuid4().hex, sync_name=sync.name, status="running", started_at=now()
    )
    state_exists = warehouse.relation_exists(SYNC_STATE) and warehouse.relation_exists(
        SYNC_REJECTIONS
    )
    if not dry_run:
        ensure_state_tables(warehouse)
        state_exists = True
    apply_erasure = bool(sync.erasure_relation) and warehouse.relation_exists(
        str(sync.erasure_relation)
    )
    apply_consent = bool(sync.consent_relation) and warehouse.relation_exists(
        str(sync.consent_relation)
    )
    if apply_consent:
        _check_consent_column(warehouse, sync)
    query = delta_query(
        sync,
        full_resync=full_resync,
        apply_erasure=apply_erasure,
        apply_consent=apply_consent,
        state_exists=state_exists,
    )
    skipped_holdout, skipped_consent = warehouse.fetchall(
        skipped_counts_query(sync, apply_erasure=apply_erasure, apply_consent=apply_consent)
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
        run.status, run.finished_at = "dry_run", now()
        return run

    warehouse.execute(
        f"""
        insert into {SYNC_RUNS} (run_id, sync_name, started_at, status, skipped_consent,
            skipped_holdout)
        values ($1, $2, $3, $4, $5, $6)
        """,
        [
            run.run_id,
            sync.name,
            run.started_at,
            run.status,
            run.skipped_consent,
            run.skipped_holdout,
        ],
    )
    try:
        for batch in _batches(sync.name, records, batch_size):
            run.planned[batch.operation] += len(batch.records)
            result = destination.send(batch)
            with warehouse.transaction() as transaction:
                _commit_batch(transaction, sync, batch, result, run, now())
    except BaseException as error:
        run.status, run.finished_at = "failed", now()
        run.error = redact(f"{type(error).__name__}: {error}", _secrets_of(sync, destination))
        with warehouse.transaction() as transaction:
            _write_counters(transaction, run)
        log.error("sync %s run %s failed: %s", sync.name, run.run_id, run.error)
        raise
    run.status, run.finished_at = "success", now()
    with warehouse.transaction() as transaction:
        _write_counters(transaction, run)
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
