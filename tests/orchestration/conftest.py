"""Fixtures of the Dagster tests: persistent instances on SQLite and on a throwaway
PostgreSQL (tests/postgres_cluster.py)."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, instance_for_test

from cdp import PROJECT_ROOT
from tests.postgres_cluster import PostgresCluster, postgres_bin_dir, postgres_cluster

# The dagster.yaml the README documents for PostgreSQL; the postgres instances load it.
DAGSTER_POSTGRES_YAML = PROJECT_ROOT / "orchestration" / "dagster.postgres.yaml"
DAGSTER_STORAGES = ["sqlite", "postgres"]


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


@pytest.fixture(scope="session")
def defs():  # -> dagster.Definitions
    """The assembled definitions, loaded the way Dagster loads the code location."""
    from orchestration.definitions import defs

    return defs()
