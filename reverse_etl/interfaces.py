"""What the engine requires of a warehouse and of the place it keeps the sync state.

The implementations (`warehouse.DuckDBWarehouse` with `state.TableState`,
`spark_warehouse.SparkWarehouse` with `log_state.LogState`) depend on these protocols, and
the protocols on nothing but the result types and the SQL dialect, so no implementation has
to import another one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

import pyarrow as pa

from reverse_etl.dialect import Dialect
from reverse_etl.results import BatchCommit, SyncRunResult


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...


class SyncState(Protocol):
    """How the engine writes the state; each method is atomic on its own."""

    def ensure(self) -> None:
        """Create what is missing (idempotent); repair what a killed process left behind."""

    def start_run(self, run: SyncRunResult) -> None:
        """Add the run to the run log."""

    def commit_batch(self, commit: BatchCommit, run: SyncRunResult) -> None:
        """Record an acknowledged batch, its rejections and the run's counters, atomically."""

    def record_run(self, run: SyncRunResult) -> None:
        """Update the run's row of the run log (counters, status, error)."""

    def finish(self) -> None:
        """Housekeeping after a successful run; never needed for correctness."""

    def clear_dead_letters(self, sync_name: str) -> int:
        """Forget the sync's dead letters; returns how many were released."""

    def mark_abandoned_runs(self, found_at: datetime) -> int:
        """Mark every run still `running` as `abandoned` (see `state.mark_abandoned_runs`)."""


class Warehouse(Protocol):
    """What the engine requires of a warehouse."""

    dialect: Dialect

    def sync_state(self) -> SyncState:
        """Where this warehouse keeps the sync state, rejections and run log (`state.py`)."""

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run one statement (in its own transaction, where the warehouse has them)."""

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run a query whose result is known to be small (counts, one run's row)."""

    def stream(
        self, sql: str, batch_size: int, params: Sequence[Any] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Yield the query's rows as Arrow record batches of at most `batch_size` rows.

        The query reads one consistent snapshot, so statements committed while the stream
        is being consumed do not change what it yields.
        """

    def relation_exists(self, relation: str) -> bool: ...

    def close(self) -> None: ...


class TransactionalWarehouse(Warehouse, Protocol):
    """A warehouse with transactions (DuckDB): the state is tables updated in place."""

    def transaction(self) -> Any:
        """A context manager yielding a `Transaction`, committed on exit, rolled back on error."""


class AppendOnlyWarehouse(Warehouse, Protocol):
    """A warehouse without transactions (Spark): the state is an append-only log."""

    compact_after_commits: int

    @property
    def spark(self) -> Any: ...

    def append(self, relation: str, schema: str, rows: Sequence[tuple]) -> None:
        """Append `rows` to `relation` as one atomic step (one new file)."""
