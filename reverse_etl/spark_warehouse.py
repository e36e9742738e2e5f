"""Apache Spark behind the `Warehouse` interface: the tables dbt's `spark` target builds.

The caller hands in the session: the application passes the one dbt-spark (`method: session`)
runs in this process, or a new one configured from the same profile, so syncs read the tables
of the same warehouse directory and metastore; `local_session` starts one over a warehouse
directory for callers without a profile (`python -m reverse_etl --target spark`). pyspark
comes with the optional `spark` extra and is imported only when a Spark warehouse is opened.

Spark has no transactions and Parquet tables cannot be updated, so the sync state is an
append-only log (`log_state.LogState`) whose atomic step is `append`: one new file per call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from reverse_etl.dialect import SPARK, SparkDialect, string_literal
from reverse_etl.log_state import LogState

__all__ = ["SPARK", "SparkDialect", "SparkWarehouse", "local_session", "string_literal"]


def local_session_conf(
    spark_dir: Path, *, master: str = "local[2]", driver_memory: str = "2g"
) -> dict[str, str]:
    """A local session's settings over `spark_dir`: its tables under `warehouse/`, an embedded
    Derby metastore beside them, UTC (the same keys as the project's dbt spark profile)."""
    spark_dir = Path(spark_dir)
    return {
        "spark.master": master,
        "spark.driver.memory": driver_memory,
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={spark_dir}",
        "spark.sql.warehouse.dir": f"{spark_dir}/warehouse",
        "spark.hadoop.javax.jdo.option.ConnectionURL": (
            f"jdbc:derby:;databaseName={spark_dir}/metastore_db;create=true"
        ),
        "spark.sql.session.timeZone": "UTC",
    }


def local_session(conf: Mapping[str, str]) -> Any:
    """The running Spark session, or a new one with Hive support and `conf`."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.enableHiveSupport()
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


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

    @property
    def spark(self) -> Any:
        return self._spark

    def close(self) -> None:
        """Nothing to do: the session is shared with dbt and the rest of the process."""

    def sync_state(self) -> LogState:
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
