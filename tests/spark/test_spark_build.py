"""The whole project on Spark: every model, snapshot, seed, unit test and data test passes, and
the single customer view, traits and segment memberships equal DuckDB's, row for row."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.spark.conftest import SparkBuild, missing_requirement

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]

# Every column of these tables is compared; floats after rounding to this many places.
DECIMALS = 6
COMPARED = {
    "audit.landing_audit": ["landing_table"],
    "core.customer_identifiers": ["identifier_type", "identifier_value"],
    "core.customers": ["customer_id"],
    "core.customer_traits": ["customer_id"],
    "segments.segment_memberships": ["segment_name", "customer_id"],
}


def test_the_whole_project_builds_and_passes_its_tests_on_spark(spark_sample: SparkBuild) -> None:
    tail = "\n".join(spark_sample.lines[-30:] + spark_sample.outcome.failures)
    assert spark_sample.outcome.success, f"Spark build failed:\n{tail}"
    statuses = spark_sample.outcome.statuses
    assert not {"error", "fail", "skipped"} & set(statuses), statuses
    assert statuses.get("ok", 0) >= 50, statuses  # models
    assert statuses.get("success", 0) >= 5, statuses  # seeds and the snapshot
    assert statuses.get("pass", 0) >= 100, statuses  # data and unit tests
    print(f"\nSpark build of the sample: {spark_sample.seconds:.0f}s ({statuses})")


def test_the_predictive_step_wrote_its_tables(spark_sample: SparkBuild) -> None:
    spark = spark_sample.spark
    for table in ("customer_churn", "customer_clv", "customer_clusters"):
        rows = spark.sql(f"select count(*) from predictive.{table}").collect()[0][0]
        assert rows > 0, table
    assert any("predictive models (cdp predict)" in line for line in spark_sample.lines)


def test_identity_resolution_iterates_on_spark(spark_sample: SparkBuild) -> None:
    rounds = spark_sample.spark.sql(
        "select max(resolved_in_rounds) from identity.int_identity__components"
    ).collect()[0][0]
    assert rounds >= 2


def test_incremental_models_and_the_snapshot_rerun_on_spark(spark_sample: SparkBuild) -> None:
    """A second build takes the incremental (delete+insert) and snapshot (merge) paths."""
    from cdp.pipeline import run_dbt

    spark = spark_sample.spark
    registry = "identity.int_identity__customer_id_registry"
    ids = f"select count(*), count(distinct customer_id) from {registry}"
    before = spark.sql(ids).collect()[0]
    history_before = spark.sql(
        "select count(*) from segments.segment_membership_history"
    ).collect()[0][0]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", "2025-07-01")
        outcome = run_dbt(
            [
                "build",
                "--select",
                "int_identity__customer_id_registry customer_id_merges segment_membership_history",
            ],
            spark_sample.settings,
        )
    assert outcome.success, outcome.failures
    after = spark.sql(ids).collect()[0]
    assert tuple(after) == tuple(before)  # same data: every identifier keeps its id
    history_after = spark.sql("select count(*) from segments.segment_membership_history").collect()[
        0
    ][0]
    assert history_after == history_before  # nobody entered or left
    assert spark.sql("show tables in identity like '*__dbt_merged'").count() == 0


def _canonical(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (float, decimal.Decimal)):
        number = float(value)
        return None if math.isnan(number) else round(number, DECIMALS)
    if isinstance(value, int):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    return value


def _rows(cursor_rows: list, columns: list[str], keys: list[str]) -> dict[tuple, dict[str, Any]]:
    rows = {}
    for row in cursor_rows:
        record = {name: _canonical(value) for name, value in zip(columns, row, strict=True)}
        rows[tuple(record[key] for key in keys)] = record
    return rows


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_duckdb_and_spark_builds_are_equal(
    table: str, spark_sample: SparkBuild, duckdb_sample: Path
) -> None:
    assert spark_sample.outcome.success, "the Spark build failed (see the first test)"
    keys = COMPARED[table]
    # The same configuration as dbt's own connection, which the process may still hold.
    with duckdb.connect(str(duckdb_sample)) as connection:
        cursor = connection.execute(f"select * from {table}")
        duck_columns = [column[0] for column in cursor.description]
        duck = _rows(cursor.fetchall(), duck_columns, keys)
    frame = spark_sample.spark.sql(f"select * from {table}")
    spark_columns = frame.columns
    spark = _rows(frame.collect(), spark_columns, keys)
    assert spark_columns == duck_columns
    assert len(spark) == len(duck)
    assert spark.keys() == duck.keys()
    differences = [
        (key, column, duck[key][column], spark[key][column])
        for key in sorted(duck, key=str)
        for column in duck_columns
        if duck[key][column] != spark[key][column]
    ]
    by_column: dict[str, int] = {}
    for _, column, _, _ in differences:
        by_column[column] = by_column.get(column, 0) + 1
    assert not differences, f"{len(differences)} differences by column {by_column}; first: " + str(
        differences[:5]
    )
