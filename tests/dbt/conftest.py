"""Fixtures of the dbt tests: the project's manifest, as `dbt parse` writes it."""

from __future__ import annotations

import json

import pytest

from cdp import DEFAULT_RAW_DIR
from cdp.pipeline import Settings, run_dbt


@pytest.fixture(scope="session")
def dbt_manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """target/manifest.json of the project parsed on DuckDB (in a scratch target directory)."""
    target = tmp_path_factory.mktemp("dbt-parse") / "target"
    settings = Settings(
        raw_dir=DEFAULT_RAW_DIR,
        duckdb_path=target.parent / "parse.duckdb",
        dbt_target_path=target,
    )
    outcome = run_dbt(["parse"], settings)
    assert outcome.success, outcome.failures
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))
