"""Shared helpers: build a warehouse from a landing directory and query it; Dagster instances
on SQLite and on a throwaway PostgreSQL."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterInstance, instance_for_test

from cdp import DBT_PROJECT_DIR, DEFAULT_RAW_DIR, PROJECT_ROOT
from cdp.pipeline import Settings, run_dbt
from tests.postgres_cluster import PostgresCluster, postgres_bin_dir, postgres_cluster

SHARED_DIR = PROJECT_ROOT.parent / "shared"
# The dagster.yaml the README documents for PostgreSQL; the postgres instances load it.
DAGSTER_POSTGRES_YAML = PROJECT_ROOT / "orchestration" / "dagster.postgres.yaml"
DAGSTER_STORAGES = ["sqlite", "postgres"]


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of its own for the session (tests/postgres_cluster.py).

    Without the server binaries the tests that need it are skipped, saying so, unless
    CDP_REQUIRE_POSTGRES is set (as `make test` does): then they fail.
    """
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        message = (
            "PostgreSQL server binaries (initdb, postgres) not found; "
            "`make postgres-setup` installs them"
        )
        if os.environ.get("CDP_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_cluster(bin_dir) as cluster:
        yield cluster


@contextmanager
def dagster_instance_on(
    storage: str, home: Path, request: pytest.FixtureRequest
) -> Iterator[DagsterInstance]:
    """A persistent DagsterInstance with its home in `home`, on a storage of DAGSTER_STORAGES.

    sqlite: Dagster's default, files in `home`. postgres: a new database on the session's
    server and the README's dagster.yaml copied to `home`, loaded the way Dagster loads it in
    production (DAGSTER_HOME, DagsterInstance.get()).
    """
    home.mkdir(parents=True, exist_ok=True)
    if storage == "sqlite":
        with instance_for_test(temp_dir=str(home)) as instance:
            yield instance
        return
    if storage != "postgres":
        raise ValueError(f"unknown Dagster storage {storage!r}")
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    database = f"dagster_{secrets.token_hex(6)}"
    cluster.create_database(database)
    shutil.copy(DAGSTER_POSTGRES_YAML, home / "dagster.yaml")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        monkeypatch.setenv("DAGSTER_PG_HOST", cluster.host)
        monkeypatch.setenv("DAGSTER_PG_PORT", str(cluster.port))
        monkeypatch.setenv("DAGSTER_PG_USER", cluster.user)
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", cluster.password)
        monkeypatch.setenv("DAGSTER_PG_DB", database)
        with DagsterInstance.get() as instance:
            yield instance


@pytest.fixture(params=DAGSTER_STORAGES)
def dagster_instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DagsterInstance]:
    """A persistent DagsterInstance, once on SQLite and once on PostgreSQL."""
    with dagster_instance_on(request.param, tmp_path / "dagster_home", request) as instance:
        yield instance
