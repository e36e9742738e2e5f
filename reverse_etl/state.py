"""The sync state, rejections and run log, kept as tables in the warehouse itself.

Keeping them next to the data lets the delta be a single SQL query, and lets a person see
what every destination was last told with plain SQL: `reverse_etl.sync_state`,
`sync_rejections` and `sync_runs` read the same on every warehouse.

How they are written depends on what the warehouse can do, behind `SyncState`: DuckDB
updates tables in place, one transaction per acknowledged batch (`TableState`, here); Spark
on Parquet has no transactions and appends to a log instead (`log_state.LogState`). The
engine only calls `SyncState`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reverse_etl.interfaces import SyncState, Transaction, TransactionalWarehouse, Warehouse
from reverse_etl.results import BatchCommit, DeadLetter, SyncRunResult

__all__ = ["BatchCommit", "DeadLetter", "SyncState", "TableState"]

SCHEMA = "reverse_etl"
SYNC_STATE = f"{SCHEMA}.sync_state"
SYNC_RUNS = f"{SCHEMA}.sync_runs"
SYNC_REJECTIONS = f"{SCHEMA}.sync_rejections"
# Every record a sync's destination ever acknowledged, kept after it was removed there, so an
# erasure reaches every destination that ever received the person (sync_state only holds
# what a destination holds now). An erased row keeps no destination id.
SYNC_RECIPIENTS = f"{SCHEMA}.sync_recipients"

_DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""
    create table if not exists {SYNC_STATE} (
        sync_name varchar not null,
        record_key varchar not null,
        payload_hash varchar not null,
        destination_id varchar,
        synced_at timestamp not null,
        primary key (sync_name, record_key)
    )
    """,
    f"""
    create table if not exists {SYNC_RUNS} (
        run_id varchar primary key,
        sync_name varchar not null,
        started_at timestamp not null,
        finished_at timestamp,
        status varchar not null,
        added integer not null default 0,
        changed integer not null default 0,
        removed integer not null default 0,
        failed integer not null default 0,
        skipped_consent integer not null default 0,
        skipped_holdout integer not null default 0,
        requests integer not null default 0,
        error varchar
    )
    """,
    # Added later: what the mass-change guard found (reverse_etl.guard); older run logs gain it.
    f"alter table {SYNC_RUNS} add column if not exists mass_change varchar",
    f"""
    create table if not exists {SYNC_REJECTIONS} (
        sync_name varchar not null,
        record_key varchar not null,
        operation varchar not null,
        reason varchar,
        attempts integer not null,
        first_seen_at timestamp not null,
        last_seen_at timestamp not null,
        is_dead_letter boolean not null,
        primary key (sync_name, record_key, operation)
    )
    """,
    f"""
    create table if not exists {SYNC_RECIPIENTS} (
        sync_name varchar not null,
        record_key varchar not null,
        destination_id varchar,
        synced_at timestamp not null,
        erased_at timestamp,
        primary key (sync_name, record_key)
    )
    """,
)


# The run log's columns, in the order of SYNC_RUNS.
RUN_COLUMNS = (
    "run_id",
    "sync_name",
    "started_at",
    "finished_at",
    "status",
    "added",
    "changed",
    "removed",
    "failed",
    "skipped_consent",
    "skipped_holdout",
    "requests",
    "error",
    "mass_change",
)


def run_values(run: SyncRunResult) -> list[object]:
    """The run's row of the run log, in RUN_COLUMNS order."""
    return [getattr(run, column) for column in RUN_COLUMNS]


class TableState:
    """The state as tables updated in place, one transaction per batch (DuckDB)."""

    def __init__(self, warehouse: TransactionalWarehouse) -> None:
        self._warehouse = warehouse

    def ensure(self) -> None:
        for statement in _DDL:
            self._warehouse.execute(statement)

    def start_run(self, run: SyncRunResult) -> None:
        self._warehouse.execute(
            f"""
            insert into {SYNC_RUNS} (run_id, sync_name, started_at, status, skipped_consent,
                skipped_holdout)
            values ($1, $2, $3, $4, $5, $6)
            """,
            [
                run.run_id,
                run.sync_name,
                run.started_at,
                run.status,
                run.skipped_consent,
                run.skipped_holdout,
            ],
        )

    def commit_batch(self, commit: BatchCommit, run: SyncRunResult) -> None:
        keys = [key for key, _, _ in commit.acknowledged]
        with self._warehouse.transaction() as transaction:
            if keys and commit.removes:
                transaction.execute(
                    f"delete from {SYNC_STATE}"
                    " where sync_name = $1 and list_contains($2, record_key)",
                    [commit.sync_name, keys],
                )
            elif keys:
                transaction.execute(
                    f"""
                    insert or replace into {SYNC_STATE}
                        (sync_name, record_key, payload_hash, destination_id, synced_at)
                    select $1, unnest($2::varchar[]), unnest($3::varchar[]),
                        unnest($4::varchar[]), $5
                    """,
                    [
                        commit.sync_name,
                        keys,
                        [payload_hash for _, payload_hash, _ in commit.acknowledged],
                        [destination_id for _, _, destination_id in commit.acknowledged],
                        commit.committed_at,
                    ],
                )
            if keys:
                # The recipients: an add or change remembers the destination id (a removal
                # keeps the one it had), an erasure forgets it and is marked done.
                transaction.execute(
                    f"""
                    insert into {SYNC_RECIPIENTS} as recipient
                        (sync_name, record_key, destination_id, synced_at, erased_at)
                    select $1, record_key, case when $5 then null else destination_id end, $4,
                        case when $5 then $4 end
                    from (
                        select unnest($2::varchar[]) as record_key,
                            unnest($3::varchar[]) as destination_id
                    )
                    on conflict (sync_name, record_key) do update set
                        destination_id = case when $5 then null
                            else coalesce(excluded.destination_id, recipient.destination_id) end,
                        synced_at = excluded.synced_at,
                        erased_at = excluded.erased_at
                    """,
                    [
                        commit.sync_name,
                        keys,
                        [destination_id for _, _, destination_id in commit.acknowledged],
                        commit.committed_at,
                        commit.erases,
                    ],
                )
                transaction.execute(
                    f"delete from {SYNC_REJECTIONS}"
                    " where sync_name = $1 and list_contains($2, record_key)",
                    [commit.sync_name, keys],
                )
            if commit.rejected:
                transaction.execute(
                    f"""
                    insert into {SYNC_REJECTIONS} as rejection
                        (sync_name, record_key, operation, reason, attempts, first_seen_at,
                         last_seen_at, is_dead_letter)
                    select $1, unnest($2::varchar[]), $3, unnest($4::varchar[]), 1, $5, $5,
                        1 >= $6
                    on conflict (sync_name, record_key, operation) do update set
                        reason = excluded.reason,
                        attempts = rejection.attempts + 1,
                        last_seen_at = excluded.last_seen_at,
                        is_dead_letter = rejection.attempts + 1 >= $6
                    """,
                    [
                        commit.sync_name,
                        list(commit.rejected),
                        commit.operation,
                        list(commit.rejected.values()),
                        commit.committed_at,
                        commit.max_rejection_attempts,
                    ],
                )
            self._update_run(transaction, run)

    def record_run(self, run: SyncRunResult) -> None:
        with self._warehouse.transaction() as transaction:
            self._update_run(transaction, run)

    @staticmethod
    def _update_run(transaction: Transaction, run: SyncRunResult) -> None:
        transaction.execute(
            f"""
            update {SYNC_RUNS} set
                added = $2, changed = $3, removed = $4, failed = $5, requests = $6,
                status = $7, finished_at = $8, error = $9, mass_change = $10
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
                run.mass_change,
            ],
        )

    def finish(self) -> None:
        pass

    def mark_abandoned_runs(self, found_at: datetime) -> int:
        with self._warehouse.transaction() as transaction:
            [(count,)] = self._warehouse.fetchall(
                f"select count(*) from {SYNC_RUNS} where status = 'running'"
            )
            transaction.execute(
                f"update {SYNC_RUNS} set status = 'abandoned', finished_at = $1, error = $2"
                " where status = 'running'",
                [found_at, ABANDONED_ERROR.format(found_at=f"{found_at:%Y-%m-%d %H:%M:%S}")],
            )
        return int(count)

    def clear_dead_letters(self, sync_name: str) -> int:
        with self._warehouse.transaction() as transaction:
            [(count,)] = self._warehouse.fetchall(
                f"select count(*) from {SYNC_REJECTIONS} where sync_name = ? and is_dead_letter",
                [sync_name],
            )
            transaction.execute(
                f"delete from {SYNC_REJECTIONS} where sync_name = ? and is_dead_letter",
                [sync_name],
            )
        return int(count)


# The error recorded on an abandoned run; its finished_at is when it was found.
ABANDONED_ERROR = (
    "abandoned: the process running this sync stopped before it finished (found at"
    " {found_at} UTC by the next sync on this warehouse); what it committed is kept"
)


def mark_abandoned_runs(warehouse: Warehouse, found_at: datetime) -> int:
    """Mark the runs a stopped process left `running` as `abandoned`; returns how many.

    Only a caller holding the warehouse's sync lock (`reverse_etl.lock.sync_lock`) may call
    this: then no live process is running a sync here, so a `running` row is a leftover. The
    run's batches stay committed, and the next run resumes from them.
    """
    state = warehouse.sync_state()
    state.ensure()
    return state.mark_abandoned_runs(found_at)


def ensure_state_tables(warehouse: Warehouse) -> None:
    """Create the schema and tables (or whatever the warehouse keeps them in) if missing."""
    warehouse.sync_state().ensure()


def dead_letters(
    warehouse: Warehouse, sync_names: Sequence[str] = (), limit: int = 1000
) -> list[DeadLetter]:
    """The dead letters of the named syncs (all syncs by default), most recent first."""
    if not warehouse.relation_exists(SYNC_REJECTIONS):
        return []
    parameter = warehouse.dialect.parameter
    names = ", ".join(parameter(position) for position in range(1, len(sync_names) + 1))
    rows = warehouse.fetchall(
        f"""
        select sync_name, record_key, operation, reason, attempts, first_seen_at, last_seen_at
        from {SYNC_REJECTIONS}
        where is_dead_letter {f"and sync_name in ({names})" if sync_names else ""}
        order by last_seen_at desc, sync_name, record_key
        limit {int(limit)}
        """,
        list(sync_names) or None,
    )
    return [DeadLetter(*row) for row in rows]


def clear_dead_letters(warehouse: Warehouse, sync_name: str) -> int:
    """Forget a sync's dead letters, so the next run tries those records again.

    Returns how many were released.
    """
    if not warehouse.relation_exists(SYNC_REJECTIONS):
        return 0
    return warehouse.sync_state().clear_dead_letters(sync_name)
