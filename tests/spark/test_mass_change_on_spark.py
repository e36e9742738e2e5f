"""The mass-change guard on Spark: the same engine, the run log is the append-only log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from reverse_etl.config import SyncConfig
from reverse_etl.engine import run_sync
from tests.reverse_etl.test_engine import ListDestination
from tests.spark.conftest import missing_requirement
from tests.spark.test_reverse_etl_on_spark import spark_replacer

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]

MEMBERS = [(f"c{number:02d}", False, True, f"p{number}@example.com") for number in range(20)]
COLUMNS = [
    ("customer_id", "varchar"),
    ("is_holdout", "boolean"),
    ("has_consent", "boolean"),
    ("email", "varchar"),
]


@pytest.fixture
def warehouse(spark: Any) -> Iterator[Any]:
    from reverse_etl.spark_warehouse import SparkWarehouse

    yield SparkWarehouse(spark)


def test_an_emptied_segment_is_refused_on_spark_until_overridden(warehouse) -> None:
    replace = spark_replacer(warehouse.spark)
    replace("retl_guard_segments.seg_vip", COLUMNS, MEMBERS)
    replace(
        "retl_guard_core.customers",
        [("customer_id", "varchar"), ("is_erased", "boolean")],
        [(key, False) for key, *_ in MEMBERS],
    )
    sync = SyncConfig(
        name=f"guard_{uuid.uuid4().hex[:10]}",
        source="retl_guard_segments.seg_vip",
        erasure_relation="retl_guard_core.customers",
        fields={"email": "email"},
    )
    destination = ListDestination()
    assert run_sync(sync, warehouse, destination).added == len(MEMBERS)
    replace("retl_guard_segments.seg_vip", COLUMNS, [])

    for _ in range(2):
        blocked = run_sync(sync, warehouse, destination)
        assert blocked.status == "blocked" and blocked.removed == 0
        assert len(destination.members) == len(MEMBERS)
    allowed = run_sync(sync, warehouse, destination, allow_mass_change=True)

    assert allowed.status == "success" and allowed.removed == len(MEMBERS)
    assert destination.members == {}
    runs = warehouse.fetchall(
        "select status, mass_change from reverse_etl.sync_runs where sync_name = :p1"
        " order by started_at",
        [sync.name],
    )
    reason = "mass change: would remove 20 of the 20 records the destination holds"
    assert [status for status, _ in runs] == ["success", "blocked", "blocked", "success"]
    assert runs[1][1].startswith(reason) and runs[2][1].startswith(reason)
    assert runs[3][1].startswith(f"allowed by override: {reason}")
