"""Reverse ETL on Spark: the DuckDB suite's convergence property, the state log's compaction
surviving a crash at each step, and `cdp sync` of the Spark-built sample sending exactly what
the same syncs send from the DuckDB build."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.spark.conftest import AS_OF, SparkBuild, missing_requirement
from tests.test_reverse_etl_convergence import (
    ReplaceRelation,
    check_convergence,
    steps,
)

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

    # Compacting after a few batches makes the property cover compaction as well.
    yield SparkWarehouse(spark, compact_after_commits=12)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    steps=steps.map(lambda drawn: drawn[:3]),
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
