"""The `cdp` command line, run as a user would."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.landing import write_csv_landing
from tests.dbt.test_identity_graph import chain_landing


@pytest.mark.slow
def test_run_builds_the_pipeline_and_prints_a_summary(tmp_path: Path, run_cdp) -> None:
    write_csv_landing(tmp_path / "landing", chain_landing())
    result = run_cdp(
        "run",
        "--raw-dir",
        str(tmp_path / "landing"),
        "--duckdb-path",
        str(tmp_path / "w.duckdb"),
        env={"CDP_ACTIVATION_DIR": str(tmp_path / "activation")},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "int_identity__components" in result.stdout  # progress, one line per node
    assert "round" in result.stdout  # the identity iteration reports its rounds
    for label in ("rows landed", "rows quarantined", "customers", "largest profile"):
        assert label in result.stdout
    assert "syncs (dbt_project/syncs.yml)" in result.stdout  # the syncs ran after the build


def test_run_refuses_a_landing_directory_with_missing_tables(tmp_path: Path, run_cdp) -> None:
    (tmp_path / "landing" / "crm" / "contacts").mkdir(parents=True)
    result = run_cdp("run", "--raw-dir", str(tmp_path / "landing"))
    assert result.returncode != 0
    assert "shop/orders" in result.stderr
    assert "at least one file" in result.stderr


def test_generate_writes_every_landing_table(tmp_path: Path, run_cdp) -> None:
    result = run_cdp("generate", "--people", "50", "--seed", "3", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "events/tracks" in result.stdout
    assert (tmp_path / "out" / "_truth" / "truth.csv").exists()
