"""Reverse ETL on Spark: the DuckDB suite's convergence property, the state log's compaction
surviving a crash at each step, and `cdp sync` of the Spark-built sample sending exactly what
the same syncs send from the DuckDB build."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reverse_etl.config import SyncConfig
from reverse_etl.engine import run_sync
from tests.reverse_etl.test_convergence import (
    PEOPLE,
    FlakyAudience,
    ReplaceRelation,
    _apply,
    check_convergence,
    steps,
)
from tests.spark.conftest import SparkBuild, missing_requirement

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]

# Sources of these tests live in their own schemas: the session's metastore also holds the
# sample build, whose core.customers must stay as dbt made it.
SCHEMAS = ("retl_segments", "retl_core")
SPARK_TYPES = {"varchar": "string", "boolean": "boolean"}


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def spark_replacer(spark: Any) -> ReplaceRelation:
    """Sources as views over literal rows: no files, so a step costs one metastore update."""

    def replace(relation: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        spark.sql(f"create schema if not exists {relation.split('.')[0]}")
        typed = ", ".join(
            f"cast({name} as {SPARK_TYPES[kind]}) as {name}" for name, kind in columns
        )
        names = ", ".join(name for name, _ in columns)
        if rows:
            values = ", ".join(
                "(" + ", ".join(_literal(value) for value in row) + ")" for row in rows
            )
            body = f"select {typed} from values {values} as source({names})"
        else:
            nulls = ", ".join(f"null as {name}" for name, _ in columns)
            body = f"select {typed} from (select {nulls}) as source where false"
        spark.sql(f"create or replace view {relation} as {body}")

    return replace


@pytest.fixture
def warehouse(spark: Any) -> Iterator[Any]:
    from reverse_etl.spark_warehouse import SparkWarehouse

    # Compacting after a few dozen batches makes the property cover compaction as well.
    yield SparkWarehouse(spark, compact_after_commits=24)


# Fewer and shorter examples than on DuckDB: every run costs a few Spark jobs.
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=steps.map(lambda drawn: drawn[:2]),
    batch_size=st.sampled_from([3, 7, 25]),
    mode=st.sampled_from(["mirror"]),
)
def test_random_changes_and_failures_always_converge_on_spark(warehouse, steps, batch_size, mode):
    # Each example gets its own sync, so its state starts empty in the shared metastore.
    check_convergence(
        warehouse,
        spark_replacer(warehouse.spark),
        steps,
        batch_size,
        mode,
        sync_name=f"audience_{uuid.uuid4().hex[:10]}",
        schemas=SCHEMAS,
    )


class Killed(BaseException):
    """Stands for a SIGKILL between two steps of a compaction: nothing after it runs."""


def _whole_state(warehouse: Any) -> tuple[list, list, list]:
    return (
        sorted(warehouse.fetchall("select * from reverse_etl.sync_state")),
        sorted(warehouse.fetchall("select * from reverse_etl.sync_rejections")),
        sorted(warehouse.fetchall("select * from reverse_etl.sync_runs"), key=str),
    )


def _log_tables(spark: Any) -> list[str]:
    return [
        table.name
        for table in spark.catalog.listTables("reverse_etl")
        if table.name.startswith("sync_log_")
    ]


def test_a_compaction_killed_at_any_step_loses_nothing(
    spark: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reverse_etl.spark_warehouse import SparkWarehouse

    def opened() -> SparkWarehouse:
        # A new process after the kill: nothing carried over in memory.
        return SparkWarehouse(spark, compact_after_commits=10**6)

    warehouse = opened()
    sync = SyncConfig(
        name=f"compaction_{uuid.uuid4().hex[:10]}",
        source=f"{SCHEMAS[0]}.seg_audience",
        erasure_relation=f"{SCHEMAS[1]}.customers",
        fields={"email": "email", "country": "country"},
        max_rejection_attempts=1,
    )
    step = {
        "members": set(PEOPLE[:12]),
        "without_consent": {PEOPLE[0]},
        "countries": {PEOPLE[1]: "FR"},
    }
    _apply(spark_replacer(spark), SCHEMAS, step, set())
    destination = FlakyAudience(max_batch_size=4)
    destination.reject_once = {PEOPLE[2]}  # a dead letter after one attempt
    run_sync(sync, warehouse, destination)
    before = _whole_state(warehouse)
    assert before[1], "the state should hold a rejection"

    def kill(*args: object, **kwargs: object) -> None:
        raise Killed

    # Killed after writing the new log, before pointing the view at it.
    state = warehouse.sync_state()
    with monkeypatch.context() as patch, pytest.raises(Killed):
        patch.setattr(state, "_point_log_at", kill)
        state.compact()
    warehouse = opened()
    assert _whole_state(warehouse) == before
    # Killed after pointing the view at the new log, before dropping the old one.
    state = warehouse.sync_state()
    state.ensure()
    with monkeypatch.context() as patch, pytest.raises(Killed):
        patch.setattr(state, "drop_unused_logs", kill)
        state.compact()
    warehouse = opened()
    assert _whole_state(warehouse) == before
    assert len(_log_tables(spark)) >= 3  # the old log and the unused new one are still there

    # The next compaction keeps the same state and drops every table the view does not read.
    state = warehouse.sync_state()
    state.ensure()
    state.compact()
    assert _whole_state(warehouse) == before
    assert len(_log_tables(spark)) == 1
    # And syncing goes on from there: nothing to send, the dead letter still left out.
    quiet = run_sync(sync, warehouse, destination)
    assert (quiet.added, quiet.changed, quiet.removed, quiet.failed) == (0, 0, 0, 0)


def test_a_person_removed_then_erased_is_erased_once_also_after_compaction(spark: Any) -> None:
    from reverse_etl.spark_warehouse import SparkWarehouse

    warehouse = SparkWarehouse(spark, compact_after_commits=10**6)
    sync = SyncConfig(
        name=f"late_erasure_{uuid.uuid4().hex[:10]}",
        source=f"{SCHEMAS[0]}.seg_audience",
        erasure_relation=f"{SCHEMAS[1]}.customers",
        fields={"email": "email", "country": "country"},
    )
    replace = spark_replacer(spark)
    members = set(PEOPLE[:8])
    _apply(replace, SCHEMAS, {"members": members, "without_consent": set(), "countries": {}}, set())
    destination = FlakyAudience(max_batch_size=4)
    run_sync(sync, warehouse, destination)
    sent = destination.ever_sent.copy()
    person = sorted(sent)[0]
    # Consent withdrawn: removed; the log is compacted, which drops the state entry.
    step = {"members": members, "without_consent": {person}, "countries": {}}
    _apply(replace, SCHEMAS, step, set())
    run_sync(sync, warehouse, destination)
    warehouse.sync_state().compact()
    _apply(replace, SCHEMAS, step, {person})
    destination.acknowledged.clear()

    run_sync(sync, SparkWarehouse(spark, compact_after_commits=10**6), destination)
    run_sync(sync, SparkWarehouse(spark, compact_after_commits=10**6), destination)

    assert [entry[:2] for entry in destination.acknowledged] == [("erase", person)]
    [(destination_id, erased)] = warehouse.fetchall(
        "select destination_id, erased_at is not null from reverse_etl.sync_recipients"
        f" where sync_name = '{sync.name}' and record_key = '{person}'"
    )
    assert destination_id is None and erased


def _sent(activation_dir: Path) -> dict[str, set[tuple[str, str, str]]]:
    """(operation, record key, payload JSON) the file destination wrote, per sync."""
    sent: dict[str, set[tuple[str, str, str]]] = {}
    for path in activation_dir.glob("*/*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            sent.setdefault(path.parent.name, set()).add(
                (
                    record["operation"],
                    record["record_key"],
                    json.dumps(record["payload"], sort_keys=True),
                )
            )
    return sent


def test_cdp_sync_on_the_spark_build_sends_what_the_duckdb_build_sends(
    spark_sample: SparkBuild,
    duckdb_sample: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cdp.activation import run_project_syncs
    from cdp.cli import main
    from cdp.pipeline import Settings

    assert spark_sample.outcome.success, "the Spark build failed (see test_spark_build)"
    for key, value in spark_sample.settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "spark"))

    result = CliRunner().invoke(main, ["sync"])

    assert result.exit_code == 0, result.output
    # The same syncs from the DuckDB build of the same sample, on a copy of it.
    duckdb_copy = tmp_path / "sample.duckdb"
    for suffix in ("", ".wal"):  # the build's connection may not have checkpointed yet
        if Path(f"{duckdb_sample}{suffix}").exists():
            shutil.copyfile(f"{duckdb_sample}{suffix}", f"{duckdb_copy}{suffix}")
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "duckdb"))
    from_duckdb = run_project_syncs(Settings(duckdb_path=duckdb_copy), on_line=lambda line: None)
    assert [run.error for run in from_duckdb if run.status != "success"] == []
    spark_sent, duckdb_sent = _sent(tmp_path / "spark"), _sent(tmp_path / "duckdb")
    assert sum(len(records) for records in spark_sent.values()) > 100
    assert spark_sent == duckdb_sent

    # The state and run log on Spark say the same, and a second run has nothing to send
    # (one sync again: every run costs a few Spark jobs).
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "spark-again"))
    [again] = run_project_syncs(
        spark_sample.settings, [sorted(spark_sent)[0]], on_line=lambda line: None
    )
    assert (again.status, again.added, again.changed, again.removed) == ("success", 0, 0, 0)
    # Other tests of the session keep their own syncs in the same state log.
    names = ", ".join(f"'{run.sync_name}'" for run in from_duckdb)
    spark = spark_sample.spark
    state = spark.sql(
        "select sync_name, count(*) from reverse_etl.sync_state"
        f" where sync_name in ({names}) group by sync_name"
    ).collect()
    assert dict(state) == {name: len(records) for name, records in spark_sent.items()}
    runs = spark.sql(
        "select status, count(*) from reverse_etl.sync_runs"
        f" where sync_name in ({names}) group by status"
    )
    assert dict(runs.collect()) == {"success": len(from_duckdb) + 1}
