"""DuckDB behind the `Warehouse` interface (`interfaces.py`), the engine's default warehouse.

The engine only talks to that interface, so a delta is computed and streamed by the warehouse
and never loaded into Python as a whole. Spark's implementation is in `spark_warehouse.py`
(the optional `spark` extra). Which one a deployment uses is the caller's choice: the
application opens the warehouse its settings name and hands it to the engine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from reverse_etl.dialect import DUCKDB, Dialect
from reverse_etl.interfaces import SyncState, Transaction, Warehouse
from reverse_etl.lock import WarehouseBusy
from reverse_etl.state import TableState

__all__ = ["DUCKDB", "Dialect", "DuckDBWarehouse", "Transaction", "Warehouse"]


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

    def close(self) -> None:
        self._connection.close()

    def sync_state(self) -> SyncState:
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
