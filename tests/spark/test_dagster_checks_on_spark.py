"""The Dagster checks read the same on Spark as on DuckDB, through their warehouse resource.

The checks (orchestration/checks.py) open the configured warehouse through
`WarehouseResource` and read it with one set of queries; here the sample built on Spark and
the same sample built on DuckDB give the same segment sizes, over-merge statistics, unapplied
consent and deletion rows and sync run (none yet), so the checks pass or fail alike on both.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tests.spark.conftest import SparkBuild, missing_requirement

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]


def _segment_relations(duckdb_path: Path) -> list[str]:
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables"
            " where table_schema = 'segments' and table_name like 'seg\\_%' escape '\\'"
            " order by 1"
        ).fetchall()
    return [f"segments.{name}" for (name,) in rows]


def _read(resource, segments: list[str]) -> dict:  # type: ignore[no-untyped-def]
    from orchestration.checks import identity_stats, latest_sync_run, segment_size, unapplied_rows

    with resource.open() as warehouse:
        return {
            "identity": identity_stats(warehouse),
            "unapplied": unapplied_rows(warehouse),
            "segments": {relation: segment_size(warehouse, relation) for relation in segments},
            "sync_run": latest_sync_run(warehouse, "champions_to_file"),
        }


def test_the_checks_read_the_same_on_spark_as_on_duckdb(
    spark_sample: SparkBuild, duckdb_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdp.pipeline import release_dbt_connection
    from orchestration.checks import WarehouseResource

    assert spark_sample.outcome.success, spark_sample.outcome.failures
    # The DuckDB sample was built in this process: dbt-duckdb still holds the file.
    release_dbt_connection()
    for key, value in spark_sample.settings.as_env().items():
        monkeypatch.setenv(key, value)
    segments = _segment_relations(duckdb_sample)
    assert len(segments) >= 10

    on_spark = _read(WarehouseResource(target="spark"), segments)
    on_duckdb = _read(WarehouseResource(target="duckdb", duckdb_path=str(duckdb_sample)), segments)

    assert on_spark == on_duckdb
    assert on_spark["identity"]["customers"] > 0
    assert on_spark["segments"]["segments.seg_champions"]["size"] > 0
    assert on_spark["unapplied"] is not None
