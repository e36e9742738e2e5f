"""The Spark suite: the whole project built on Apache Spark (dbt-spark, session mode).

Needs the `spark` extra (`make spark-setup`) and Java 17; skipped with the reason otherwise.
Run it with `make test-spark` (= pytest -m spark tests/spark). One Spark session serves the
whole pytest process (its warehouse directory and metastore are fixed when it starts), so the
sample is built once per session into a temporary directory and every test reads that build.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cdp import DEFAULT_RAW_DIR
from cdp.pipeline import DbtOutcome, Settings, build
from cdp.spark import spark_available

AS_OF = "2025-07-01"


def missing_requirement() -> str | None:
    """Why the Spark suite cannot run here, or None."""
    if not spark_available():
        return "the spark extra is not installed (make spark-setup)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (Spark needs Java 17)"
    return None


@dataclass
class SparkBuild:
    settings: Settings
    outcome: DbtOutcome
    lines: list[str]
    seconds: float

    @property
    def spark(self) -> Any:
        from cdp.spark import spark_session

        return spark_session(self.settings.as_env())


@pytest.fixture(scope="session")
def spark_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The spark target of this test session: one temporary warehouse and metastore."""
    root = tmp_path_factory.mktemp("spark")
    return Settings(
        raw_dir=DEFAULT_RAW_DIR,
        target="spark",
        spark_dir=root / "spark",
        duckdb_path=root / "unused.duckdb",
        dbt_target_path=root / "dbt-target",
    )


@pytest.fixture(scope="session")
def spark(spark_settings: Settings) -> Any:
    """The one Spark session of the test session, configured like the dbt spark target.

    Whichever test starts it, the sample build (dbt-spark, session mode) and every other test
    get this same session, with spark_settings' warehouse directory and metastore.
    """
    from cdp.spark import spark_session

    spark_settings.spark_dir.mkdir(parents=True, exist_ok=True)
    return spark_session(spark_settings.as_env())


@pytest.fixture(scope="session")
def spark_sample(spark_settings: Settings, spark: Any) -> SparkBuild:
    """The sample in seeds/ built on Spark, as of AS_OF, in a temporary warehouse."""
    settings = spark_settings
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", AS_OF)
        started = time.perf_counter()
        outcome = build(settings, lines.append)
        seconds = time.perf_counter() - started
    return SparkBuild(settings, outcome, lines, seconds)


@pytest.fixture(scope="session")
def duckdb_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same sample built on DuckDB, for the equality tests."""
    from tests.conftest import build_warehouse

    duckdb_path = tmp_path_factory.mktemp("duckdb") / "sample.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", AS_OF)
        build_warehouse(DEFAULT_RAW_DIR, duckdb_path)
    return duckdb_path
