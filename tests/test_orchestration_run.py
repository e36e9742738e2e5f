"""One real run: the nightly job builds the sample, records row counts and runs the checks."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster import AssetCheckSeverity, AssetKey, instance_for_test

from orchestration.dbt import dbt_project
from orchestration.definitions import defs


def test_nightly_job_builds_the_sample_with_row_counts_and_passing_checks(
    tmp_path: Path, monkeypatch
) -> None:
    # DuckDB names the database after the file, and the manifest's relations carry that name,
    # so the warehouse keeps the default file name.
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "cdp.duckdb"))
    monkeypatch.setenv("CDP_AS_OF", "2025-07-01")
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    monkeypatch.setenv("CDP_LANDING_FRESHNESS_SEVERITY", "WARN")
    # One dbt thread keeps this test's time and memory predictable on a 2-core machine.
    monkeypatch.setenv("CDP_THREADS", "1")
    # dagster-dbt gives each invocation its own target folder; the test removes the one it made.
    targets = dbt_project.project_dir / "target"
    before = {path.name for path in targets.glob("cdp_dbt_assets-*")}
    try:
        with instance_for_test() as instance:
            result = defs.resolve_job_def("nightly_build").execute_in_process(
                instance=instance, raise_on_error=False
            )
    finally:
        for path in targets.glob("cdp_dbt_assets-*"):
            if path.name not in before:
                shutil.rmtree(path, ignore_errors=True)
    assert result.success

    materializations = {
        event.asset_key: event.metadata
        for event in result.asset_materializations_for_node("cdp_dbt_assets")
    }
    customers = materializations[AssetKey(["core", "customers"])]
    assert customers["dagster/row_count"].value > 0

    evaluations = {
        (
            event.asset_check_evaluation_data.asset_key,
            event.asset_check_evaluation_data.check_name,
        ): event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    overmerge = evaluations[(AssetKey(["core", "customers"]), "identity_over_merge")]
    assert overmerge.passed
    assert overmerge.metadata["largest_identifiers"].value <= 40
    champions = evaluations[(AssetKey(["segments", "seg_champions"]), "segment_size")]
    assert champions.passed
    assert champions.metadata["size"].value > 0
    freshness = evaluations[(AssetKey(["audit", "landing_audit"]), "landing_freshness")]
    # The committed sample is older than a day; on it freshness only warns.
    assert freshness.passed or freshness.severity == AssetCheckSeverity.WARN

    # The syncs ran after their segments, and every materialization says what was sent.
    sync_metadata = result.asset_materializations_for_node("activation__champions_to_file")
    assert len(sync_metadata) == 1
    assert sync_metadata[0].metadata["added"].value > 0
