"""Shared helpers: build a warehouse from a landing directory and query it. (The Dagster
instances on SQLite and PostgreSQL are in tests/orchestration/conftest.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from cdp import DBT_PROJECT_DIR, DEFAULT_RAW_DIR, PROJECT_ROOT
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


# The committed sample's history ends on 2025-06-30; it is built as of the next day, as
# `make demo` does, so its traits and segments do not depend on the day the tests run.
SAMPLE_AS_OF = "2025-07-01"


@pytest.fixture(scope="module")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample (seeds/) built as of SAMPLE_AS_OF; once per test module, so what
    one module's tests write to it (syncs) no other module sees."""
    duckdb_path = tmp_path_factory.mktemp("sample") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", SAMPLE_AS_OF)
        build_warehouse(DEFAULT_RAW_DIR, duckdb_path)
    return duckdb_path


def compile_inline(jinja: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The SQL dbt compiles `jinja` (a macro call) to in the project; writes no relation."""
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "compile.duckdb"))
    result = dbtRunner().invoke(
        [
            "compile",
            "--inline",
            jinja,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(tmp_path / "target"),
            "--quiet",
        ]
    )
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


@pytest.fixture
def warehouse(tmp_path: Path) -> Callable[..., Path]:
    """Build a warehouse in tmp_path from a landing directory; returns the DuckDB path."""

    def _build(raw_dir: Path, **kwargs) -> Path:
        duckdb_path = tmp_path / "warehouse.duckdb"
        build_warehouse(raw_dir, duckdb_path, **kwargs)
        return duckdb_path

    return _build
