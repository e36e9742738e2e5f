"""Apache Spark behind the `Warehouse` interface: the tables dbt's `spark` target builds.

The session is the one dbt-spark (`method: session`) runs in this process, or a new one
configured from the same profile (`cdp.spark.spark_session`), so syncs read the tables of the
same warehouse directory and metastore. pyspark comes with the optional `spark` extra and is
imported only when a Spark warehouse is opened.

Spark has no transactions and Parquet tables cannot be updated, so the sync state is an
append-only log (`log_state.LogState`) whose atomic step is `append`: one new file per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from reverse_etl.warehouse import Dialect

if TYPE_CHECKING:
    from cdp.pipeline import Settings
    from reverse_etl.log_state import LogState


def string_literal(value: str) -> str:
    """A Spark SQL string literal (backslash is an escape character in Spark literals)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SparkDialect(Dialect):
    name = "spark"
    anti_join = "left anti join"
    semi_join = "left semi join"

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def parameter(self, position: int) -> str:
        # Named markers, so one parameter can appear several times (`?` cannot).
        return f":p{position}"

    def json_object(self, members: Sequence[tuple[str, str]]) -> str:
        # Spark leaves null fields out of JSON unless told otherwise; DuckDB keeps them.
        pairs = ", ".join(f"{string_literal(key)}, {value}" for key, value in members)
        return f"to_json(named_struct({pairs}), map('ignoreNullFields', 'false'))"


SPARK = SparkDialect()


def _arguments(params: Sequence[Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {f"p{position}": value for position, value in enumerate(params, start=1)}


class SparkWarehouse:
    """A Spark session behind the `Warehouse` interface.

    `compact_after_commits`: the state log is rewritten (compacted) at the end of a run once
    this many batches were appended since the last rewrite; every batch is one small file.
    """

    dialect = SPARK

    def __init__(self, spark: Any, *, compact_after_commits: int = 200) -> None:
        self._spark = spark
        self.compact_after_commits = compact_after_commits
        self._state: LogState | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> SparkWarehouse:
        """The session of the pipeline's spark target (CDP_SPARK_DIR and the dbt profile)."""
        from cdp.spark import spark_session

        settings.spark_dir.mkdir(parents=True, exist_ok=True)
        return cls(spark_session(settings.as_env()), **options)

    @classmethod
    def from_env(cls, **options: Any) -> SparkWarehouse:
        from cdp.pipeline import Settings

        return cls.from_settings(Settings.from_env(), **options)

    @property
    def spark(self) -> Any:
        return self._spark

    def close(self) -> None:
        """Nothing to do: the session is shared with dbt and the rest of the process."""

    def sync_state(self) -> LogState:
        from reverse_etl.log_state import LogState

        if self._state is None:
            self._state = LogState(self)
        return self._state

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        # Statements (DDL, insert) run when spark.sql is called.
        self._spark.sql(sql, args=_arguments(params))

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        return [tuple(row) for row in self._spark.sql(sql, args=_arguments(params)).collect()]

    def stream(
        self, sql: str, batch_size: int, params: Sequence[Any] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """The query's rows in its order, as Arrow batches of at most `batch_size` rows.

        The result is first materialized (a local checkpoint: computed once, kept by the
        executors in memory or on disk, with no lineage back to the tables), so state
        appended while the stream is consumed cannot change what it yields. The rows then
        reach Python one partition at a time (`toLocalIterator`), never the whole delta.
        """
        from pyspark.sql.pandas.types import to_arrow_schema

        frame = self._spark.sql(sql, args=_arguments(params)).localCheckpoint(eager=True)
        schema = to_arrow_schema(frame.schema)
        names = schema.names
        try:
            pending: list[tuple] = []
            for row in frame.toLocalIterator(prefetchPartitions=True):
                pending.append(tuple(row))
                if len(pending) == batch_size:
                    yield _record_batch(pending, names, schema)
                    pending = []
            if pending:
                yield _record_batch(pending, names, schema)
        finally:
            _release(frame)

    def relation_exists(self, relation: str) -> bool:
        return bool(self._spark.catalog.tableExists(relation))

    def append(self, relation: str, schema: str, rows: Sequence[tuple]) -> None:
        """Append `rows` to the Parquet table `relation` as ONE new file.

        Spark writes the file under a hidden staging directory and then renames it into the
        table's directory; readers skip hidden files, so with a single file that rename is
        the commit: every row of the call becomes visible, or none does, whenever the
        process dies.
        """
        frame = self._spark.createDataFrame(list(rows), schema=schema)
        frame.coalesce(1).write.insertInto(relation)


def _record_batch(rows: list[tuple], names: list[str], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(column, type=field.type) for column, field in zip(columns, schema, strict=True)],
        names=names,
    )


def _release(frame: Any) -> None:
    """Drop the checkpointed blocks now instead of when the JVM collects them."""
    # Best effort: the blocks go anyway when the JVM collects the RDD.
    with contextlib.suppress(Exception):
        frame._jdf.queryExecution().analyzed().rdd().unpersist(False)
