"""The few warehouse operations the sync engine needs, and their DuckDB implementation.

The engine only talks to this interface, so a delta is computed and streamed by the warehouse
and never loaded into Python as a whole. Spark's implementation is in `spark_warehouse.py`
(the optional `spark` extra); `open_warehouse` picks the one the pipeline's target names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import pyarrow as pa

from reverse_etl.lock import WarehouseBusy

if TYPE_CHECKING:
    from cdp.pipeline import Settings
    from reverse_etl.state import SyncState


class Dialect:
    """The SQL the diff and the state spell differently per warehouse (DuckDB's here).

    Only spelling lives here: the delta is one algorithm, written once in `diff.py`.
    """

    name = "duckdb"
    anti_join = "anti join"
    semi_join = "semi join"

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def quote_relation(self, relation: str) -> str:
        return ".".join(self.quote(part) for part in relation.split("."))

    def parameter(self, position: int) -> str:
        """The placeholder of the `position`-th (1-based) parameter; it may be repeated."""
        return f"${position}"

    def json_object(self, members: Sequence[tuple[str, str]]) -> str:
        """Compact JSON text of an object: (key, SQL expression) in this order, nulls kept."""
        pairs = ", ".join(f"{self.quote(key)} := {value}" for key, value in members)
        return f"cast(to_json(struct_pack({pairs})) as string)"


DUCKDB = Dialect()


class Transaction(Protocol):
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None: ...


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


def open_warehouse(settings: Settings) -> Warehouse:
    """The warehouse the pipeline builds: DuckDB's file, or Spark's tables (CDP_TARGET=spark)."""
    if settings.target == "spark":
        from reverse_etl.spark_warehouse import SparkWarehouse

        return SparkWarehouse.from_settings(settings)
    return DuckDBWarehouse.connect(settings.duckdb_path)


class DuckDBWarehouse:
    """A DuckDB file (or `:memory:`) behind the `Warehouse` interface.

    DuckDB has transactions, so the state is kept in plain tables updated in place, one
    transaction per acknowledged batch (`state.TableState`).
    """

    dialect = DUCKDB

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    @classmethod
    def connect(cls, path: str | Path, memory_limit: str | None = None) -> DuckDBWarehouse:
        """Open a DuckDB file with a memory limit for the sync's queries.

        The limit (`memory_limit`, else CDP_SYNC_MEMORY_LIMIT, default 512MB) keeps a sync of
        millions of members within a small, predictable footprint: beyond it DuckDB spills
        the delta's joins to disk instead of growing. When this process already has the
        file open (dbt built it in process a moment ago), that database and its settings are
        shared instead, since DuckDB opens one file with one configuration per process.
        """
        limit = memory_limit or os.environ.get("CDP_SYNC_MEMORY_LIMIT", "").strip() or "512MB"
        try:
            try:
                return cls(duckdb.connect(str(path), config={"memory_limit": limit}))
            except duckdb.ConnectionException:
                return cls(duckdb.connect(str(path)))
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            holder = re.search(r"\(PID (\d+)\)", str(error))
            raise WarehouseBusy(
                f"warehouse {Path(path).resolve()} is open in another process"
                f" (pid {holder.group(1) if holder else 'unknown'}: a build, a sync or a"
                " client); wait for it to finish or stop it, then run again"
            ) from None

    @classmethod
    def from_env(cls) -> DuckDBWarehouse:
        """Open the warehouse the pipeline builds (`CDP_DUCKDB_PATH`, as in `cdp.pipeline`)."""
        from cdp.pipeline import Settings

        return cls.connect(Settings.from_env(os.environ).duckdb_path)

    def close(self) -> None:
        self._connection.close()

    def sync_state(self) -> SyncState:
        from reverse_etl.state import TableState

        return TableState(self)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        self._connection.execute(sql, list(params) if params is not None else None)

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return self._connection.execute(
            sql, list(params) if params is not None else None
        ).fetchall()

    def stream(
        self, sql: str, batch_size: int, params: Sequence[Any] | None = None
    ) -> Iterator[pa.RecordBatch]:
        # A cursor is a separate connection: the engine commits state on the main one while
        # this stream is still open, and that must not cancel the stream.
        cursor = self._connection.cursor()
        try:
            relation = cursor.sql(sql, params=list(params) if params is not None else None)
            yield from relation.to_arrow_reader(batch_size)
        finally:
            cursor.close()

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """Statements committed together on exit, rolled back on error."""
        self._connection.execute("begin transaction")
        try:
            yield self
        except BaseException:
            self._connection.execute("rollback")
            raise
        self._connection.execute("commit")

    def relation_exists(self, relation: str) -> bool:
        schema, _, name = relation.rpartition(".")
        rows = self.fetchall(
            "select count(*) from information_schema.tables"
            " where table_name = ? and (? = '' or table_schema = ?)",
            [name, schema, schema],
        )
        return rows[0][0] > 0
