"""The sync state as an append-only log, for Spark: no transactions, no UPDATE or DELETE.

Everything the engine writes (state rows, rejections, the run log) is an entry of one table,
and every write is ONE append (`SparkWarehouse.append`: one file, committed by one rename). A
batch's state rows, its rejections and the run's counters are one append, so they are
committed together or not at all, like DuckDB's transaction. Entries carry a `sequence`
(one per append, increasing), and `reverse_etl.sync_state`, `sync_rejections` and
`sync_runs` are views reading the latest entry per key:

- state: latest `state` entry per (sync, record key), unless it is a removal (`is_deleted`);
- rejections: latest `rejection` entry per (sync, key, operation), unless released, and only
  if it is newer than the key's latest `state` entry (an acknowledgement clears the key's
  rejections, as DuckDB's delete does);
- runs: latest `run` entry per run id;
- recipients: latest `recipient` entry per (sync, record key), kept by compaction even after
  the record was removed (`is_deleted` marks it erased), so a later erasure still reaches it.

Compaction rewrites the log to those latest entries, keeping their sequences, into a NEW
table; the view `reverse_etl.sync_log`, which every reader goes through, is then pointed at it
(one metastore update: the commit point), and only then is the old table dropped. A process
killed before the switch leaves the old log in use and an unused table; killed after it, the
new log in use and the old table unused. Either way nothing is lost, and the next compaction
drops whatever table the view does not point to.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from reverse_etl.interfaces import AppendOnlyWarehouse
from reverse_etl.results import BatchCommit, SyncRunResult
from reverse_etl.state import (
    ABANDONED_ERROR,
    RUN_COLUMNS,
    SCHEMA,
    SYNC_RECIPIENTS,
    SYNC_REJECTIONS,
    SYNC_RUNS,
    SYNC_STATE,
    run_values,
)

SYNC_LOG = f"{SCHEMA}.sync_log"
LOG_TABLE_PREFIX = "sync_log_"
# Properties of the SYNC_LOG view: the table it reads, and the sequence it was compacted at.
TABLE_PROPERTY = "cdp.log_table"
COMPACTED_PROPERTY = "cdp.compacted_through"

LOG_COLUMNS = (
    ("sequence", "bigint"),
    ("entry", "string"),  # state | rejection | run
    ("sync_name", "string"),
    ("record_key", "string"),
    ("operation", "string"),
    ("payload_hash", "string"),
    ("destination_id", "string"),
    ("is_deleted", "boolean"),  # state: removed from the destination; rejection: released
    ("reason", "string"),  # rejection: the destination's; run: the mass-change guard's
    ("attempts", "int"),
    ("first_seen_at", "timestamp_ntz"),
    ("last_seen_at", "timestamp_ntz"),
    ("is_dead_letter", "boolean"),
    ("recorded_at", "timestamp_ntz"),
    ("run_id", "string"),
    ("started_at", "timestamp_ntz"),
    ("finished_at", "timestamp_ntz"),
    ("status", "string"),
    ("added", "int"),
    ("changed", "int"),
    ("removed", "int"),
    ("failed", "int"),
    ("skipped_consent", "int"),
    ("skipped_holdout", "int"),
    ("requests", "int"),
    ("error", "string"),
)
_NAMES = [name for name, _ in LOG_COLUMNS]
_SCHEMA = ", ".join(f"`{name}` {kind}" for name, kind in LOG_COLUMNS)
_RUN_COLUMNS = (
    "run_id, sync_name, started_at, finished_at, status, added, changed, removed, failed,"
    " skipped_consent, skipped_holdout, requests, error"
)

_VIEWS = {
    SYNC_STATE: f"""
        with latest as (
            select *, row_number() over (
                partition by sync_name, record_key order by sequence desc
            ) as position
            from {SYNC_LOG}
            where entry = 'state'
        )
        select sync_name, record_key, payload_hash, destination_id, recorded_at as synced_at
        from latest
        where position = 1 and not is_deleted
    """,
    SYNC_REJECTIONS: f"""
        with acknowledged as (
            select sync_name, record_key, max(sequence) as sequence
            from {SYNC_LOG}
            where entry = 'state'
            group by sync_name, record_key
        ),
        latest as (
            select *, row_number() over (
                partition by sync_name, record_key, operation order by sequence desc
            ) as position
            from {SYNC_LOG}
            where entry = 'rejection'
        )
        select
            latest.sync_name, latest.record_key, latest.operation, latest.reason,
            latest.attempts, latest.first_seen_at, latest.last_seen_at, latest.is_dead_letter
        from latest
        left join acknowledged
            on latest.sync_name = acknowledged.sync_name
            and latest.record_key = acknowledged.record_key
        where latest.position = 1 and not latest.is_deleted
            and latest.sequence > coalesce(acknowledged.sequence, -1)
    """,
    SYNC_RECIPIENTS: f"""
        with latest as (
            select *, row_number() over (
                partition by sync_name, record_key order by sequence desc
            ) as position
            from {SYNC_LOG}
            where entry = 'recipient'
        )
        select sync_name, record_key, destination_id, recorded_at as synced_at,
            case when is_deleted then recorded_at end as erased_at
        from latest
        where position = 1
    """,
    SYNC_RUNS: f"""
        with latest as (
            select *, row_number() over (partition by run_id order by sequence desc) as position
            from {SYNC_LOG}
            where entry = 'run'
        )
        select {_RUN_COLUMNS}, reason as mass_change
        from latest
        where position = 1
    """,
}

# The log reduced to what the views read: the same latest entries, with their sequences.
_COMPACTED = f"""
    with ranked as (
        select *,
            row_number() over (
                partition by entry, sync_name, record_key, operation, run_id
                order by sequence desc
            ) as position,
            max(case when entry = 'state' then sequence end) over (
                partition by sync_name, record_key
            ) as acknowledged_sequence
        from {SYNC_LOG}
    )
    select {", ".join(_NAMES)}
    from ranked
    where position = 1 and (
        entry in ('run', 'recipient')
        or (entry = 'state' and not is_deleted)
        or (entry = 'rejection' and not is_deleted
            and sequence > coalesce(acknowledged_sequence, -1))
    )
"""


def _entry(**values: object) -> tuple:
    return tuple(values.get(name) for name in _NAMES)


def _run_entry(sequence: int, run: SyncRunResult) -> tuple:
    values = dict(zip(RUN_COLUMNS, run_values(run), strict=True))
    # The log has no column of its own for it: a run entry keeps it in `reason`.
    values["reason"] = values.pop("mass_change")
    return _entry(sequence=sequence, entry="run", **values)


class LogState:
    """`SyncState` as an append-only log (see the module docstring)."""

    def __init__(self, warehouse: AppendOnlyWarehouse) -> None:
        self._warehouse = warehouse
        self._spark = warehouse.spark
        self._table: str | None = None
        self._sequence = 0
        self._compacted_through = 0

    # -- the log table and its pointer ------------------------------------------------------

    def _properties(self) -> dict[str, str]:
        rows = self._spark.sql(f"show tblproperties {SYNC_LOG}").collect()
        return {row[0]: row[1] for row in rows}

    def _point_log_at(self, table: str, compacted_through: int) -> None:
        """Make `table` the log: one metastore update of the SYNC_LOG view."""
        self._spark.sql(
            f"create or replace view {SYNC_LOG} tblproperties ("
            f"'{TABLE_PROPERTY}' = '{table}', '{COMPACTED_PROPERTY}' = '{compacted_through}')"
            f" as select * from {SCHEMA}.{table}"
        )

    def ensure(self) -> None:
        catalog = self._spark.catalog
        self._spark.sql(f"create schema if not exists {SCHEMA}")
        if not catalog.tableExists(SYNC_LOG):
            table = LOG_TABLE_PREFIX + uuid.uuid4().hex[:12]
            self._spark.sql(f"create table {SCHEMA}.{table} ({_SCHEMA}) using parquet")
            self._point_log_at(table, 0)
        for view, query in _VIEWS.items():
            if not catalog.tableExists(view):
                self._spark.sql(f"create view {view} as {query}")
        if "mass_change" not in self._spark.table(SYNC_RUNS).columns:
            # A run log made before the mass-change guard: same log, one more column.
            self._spark.sql(f"create or replace view {SYNC_RUNS} as {_VIEWS[SYNC_RUNS]}")
        properties = self._properties()
        self._table = f"{SCHEMA}.{properties[TABLE_PROPERTY]}"
        self._compacted_through = int(properties.get(COMPACTED_PROPERTY, "0"))
        [(latest,)] = self._warehouse.fetchall(f"select max(sequence) from {SYNC_LOG}")
        self._sequence = int(latest or 0)

    def _append(self, entries: list[tuple]) -> None:
        if self._table is None:
            self.ensure()
        self._warehouse.append(str(self._table), _SCHEMA, entries)

    def _next_sequence(self) -> int:
        if self._table is None:
            self.ensure()
        self._sequence += 1
        return self._sequence

    # -- SyncState ------------------------------------------------------------------------

    def start_run(self, run: SyncRunResult) -> None:
        self.record_run(run)

    def record_run(self, run: SyncRunResult) -> None:
        self._append([_run_entry(self._next_sequence(), run)])

    def commit_batch(self, commit: BatchCommit, run: SyncRunResult) -> None:
        sequence = self._next_sequence()
        now = commit.committed_at
        entries = [
            _entry(
                sequence=sequence,
                entry="state",
                sync_name=commit.sync_name,
                record_key=key,
                payload_hash=None if commit.removes else payload_hash,
                destination_id=None if commit.removes else destination_id,
                is_deleted=commit.removes,
                recorded_at=now,
            )
            for key, payload_hash, destination_id in commit.acknowledged
        ]
        # The recipients (see the module docstring): the engine hands removals the id they
        # were sent with; an erasure forgets it.
        entries.extend(
            _entry(
                sequence=sequence,
                entry="recipient",
                sync_name=commit.sync_name,
                record_key=key,
                destination_id=None if commit.erases else destination_id,
                is_deleted=commit.erases,
                recorded_at=now,
            )
            for key, _, destination_id in commit.acknowledged
        )
        earlier = self._live_rejections(commit) if commit.rejected else {}
        for key, reason in commit.rejected.items():
            attempts, first_seen_at = earlier.get(key, (0, now))
            entries.append(
                _entry(
                    sequence=sequence,
                    entry="rejection",
                    sync_name=commit.sync_name,
                    record_key=key,
                    operation=commit.operation,
                    is_deleted=False,
                    reason=reason,
                    attempts=attempts + 1,
                    first_seen_at=first_seen_at,
                    last_seen_at=now,
                    is_dead_letter=attempts + 1 >= commit.max_rejection_attempts,
                    recorded_at=now,
                )
            )
        entries.append(_run_entry(sequence, run))
        self._append(entries)

    def _live_rejections(self, commit: BatchCommit) -> dict[str, tuple[int, datetime]]:
        rows = self._warehouse.fetchall(
            f"select record_key, attempts, first_seen_at from {SYNC_REJECTIONS}"
            " where sync_name = :p1 and operation = :p2 and array_contains(:p3, record_key)",
            [commit.sync_name, commit.operation, list(commit.rejected)],
        )
        return {key: (int(attempts), first_seen_at) for key, attempts, first_seen_at in rows}

    def finish(self) -> None:
        if self._sequence - self._compacted_through >= self._warehouse.compact_after_commits:
            self.compact()

    def clear_dead_letters(self, sync_name: str) -> int:
        if self._table is None:
            self.ensure()
        letters = self._warehouse.fetchall(
            f"select record_key, operation from {SYNC_REJECTIONS}"
            " where sync_name = :p1 and is_dead_letter",
            [sync_name],
        )
        if letters:
            sequence = self._next_sequence()
            self._append(
                [
                    _entry(
                        sequence=sequence,
                        entry="rejection",
                        sync_name=sync_name,
                        record_key=key,
                        operation=operation,
                        is_deleted=True,
                    )
                    for key, operation in letters
                ]
            )
        return len(letters)

    def mark_abandoned_runs(self, found_at: datetime) -> int:
        """One append: a newer `abandoned` entry for every run whose latest entry is running."""
        if self._table is None:
            self.ensure()
        rows = self._warehouse.fetchall(
            f"select {_RUN_COLUMNS} from {SYNC_RUNS} where status = 'running'"
        )
        if not rows:
            return 0
        sequence = self._next_sequence()
        columns = [column.strip() for column in _RUN_COLUMNS.split(",")]
        error = ABANDONED_ERROR.format(found_at=f"{found_at:%Y-%m-%d %H:%M:%S}")
        entries = []
        for row in rows:
            values = dict(zip(columns, row, strict=True))
            values.update(status="abandoned", finished_at=found_at, error=error)
            entries.append(_entry(sequence=sequence, entry="run", **values))
        self._append(entries)
        return len(rows)

    # -- compaction -----------------------------------------------------------------------

    def compact(self) -> None:
        """Rewrite the log to its latest entries; safe to kill at any point (module doc)."""
        if self._table is None:
            self.ensure()
        table = LOG_TABLE_PREFIX + uuid.uuid4().hex[:12]
        self._spark.sql(f"create table {SCHEMA}.{table} using parquet as {_COMPACTED}")
        self._point_log_at(table, self._sequence)
        self._table, self._compacted_through = f"{SCHEMA}.{table}", self._sequence
        self.drop_unused_logs()

    def drop_unused_logs(self) -> list[str]:
        """Drop log tables the SYNC_LOG view does not read (left by compactions)."""
        current = self._properties()[TABLE_PROPERTY]
        unused = [
            table.name
            for table in self._spark.catalog.listTables(SCHEMA)
            if table.name.startswith(LOG_TABLE_PREFIX)
            and table.name != current
            and not table.isTemporary
        ]
        for name in unused:
            self._spark.sql(f"drop table if exists {SCHEMA}.{name}")
        return unused
