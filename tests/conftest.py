"""Shared helpers: build a warehouse from a landing directory and query it. (The Dagster
instances on SQLite and PostgreSQL are in tests/orchestration/conftest.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from cdp import PROJECT_ROOT
from cdp.pipeline import Settings, run_dbt

SHARED_DIR = PROJECT_ROOT.parent / "shared"


def build_warehouse(
    raw_dir: Path, duckdb_path: Path, *, full_refresh: bool = False, landing_format: str = "csv"
) -> None:
    """Run `dbt build` on the landing files; fail the test with dbt's failures if any."""
    settings = Settings(
        raw_dir=raw_dir,
        duckdb_path=duckdb_path,
        landing_format=landing_format,
        # Each warehouse gets its own dbt artifacts, so parallel builds never share them.
        dbt_target_path=duckdb_path.parent / f"{duckdb_path.stem}-dbt-target",
    )
    args = ["build"] + (["--full-refresh"] if full_refresh else [])
    lines: list[str] = []
    outcome = run_dbt(args, settings, on_line=lines.append)
    if not outcome.success:
        pytest.fail("dbt build failed:\n" + "\n".join(lines[-40:] + outcome.failures))


def query(duckdb_path: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(duckdb_path)) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture
def warehouse(tmp_path: Path) -> Callable[..., Path]:
    """Build a warehouse in tmp_path from a landing directory; returns the DuckDB path."""

    def _build(raw_dir: Path, **kwargs) -> Path:
        duckdb_path = tmp_path / "warehouse.duckdb"
        build_warehouse(raw_dir, duckdb_path, **kwargs)
        return duckdb_path

    return _build
