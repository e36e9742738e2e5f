"""Custom checks: segment size and drift, identity over-merge, landing freshness, sync failures."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from dagster import (
    AssetCheckSeverity,
    AssetKey,
    AssetSelection,
    Definitions,
    define_asset_job,
    instance_for_test,
)

from cdp.landing import write_csv_landing
from orchestration import checks
from orchestration.checks import (
    freshness_verdict,
    identity_stats,
    latest_sync_run,
    newest_landing_mtimes,
    overmerge_verdict,
    segment_models,
    segment_size,
    segment_size_verdict,
    sync_failure_verdict,
)
from orchestration.dbt import cdp_dbt_assets, dbt_resource
from orchestration.syncs import sync_assets
from reverse_etl.state import ensure_state_tables
from reverse_etl.warehouse import DuckDBWarehouse


def test_segment_within_bounds_and_stable_passes() -> None:
    verdict = segment_size_verdict(100, {"min": 1, "max": 1000}, previous_size=90)
    assert verdict.passed
    assert verdict.metadata["size"] == 100
    assert verdict.metadata["previous_size"] == 90


def test_empty_segment_fails_its_lower_bound() -> None:
    verdict = segment_size_verdict(0, {"min": 1, "max": 1000}, previous_size=None)
    assert not verdict.passed
    assert "below the minimum of 1" in verdict.description


def test_segment_above_its_upper_bound_fails() -> None:
    assert not segment_size_verdict(2000, {"min": 1, "max": 1000}, None).passed


def test_segment_that_doubled_since_the_last_check_fails_the_change_limit() -> None:
    verdict = segment_size_verdict(200, {"min": 1}, previous_size=100, max_change=0.5)
    assert not verdict.passed
    assert "+100%" in verdict.description
    assert segment_size_verdict(140, {"min": 1}, previous_size=100, max_change=0.5).passed
    assert not segment_size_verdict(40, {"min": 1}, previous_size=100, max_change=0.5).passed


def test_first_check_or_previously_empty_segment_has_no_change_to_judge() -> None:
    assert segment_size_verdict(50, {}, previous_size=None).passed
    assert segment_size_verdict(50, {}, previous_size=0).passed


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments; create schema core")
        connection.execute(
            """
            create table segments.seg_vip as
            select * from (values
                ('c1', true, true), ('c2', false, true), ('c3', false, false)
            ) as members(customer_id, is_holdout, has_consent)
            """
        )
        connection.execute(
            """
            create table core.customers as
            select * from (values
                ('c1', 3, 5, false), ('c2', 60, 40, true), ('c3', 2, 2, false)
            ) as customers(customer_id, identifier_count, source_record_count,
                           is_oversized_profile)
            """
        )
    return path


def test_segment_size_counts_members_holdout_and_contactable(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        sizes = segment_size(DuckDBWarehouse(connection), "segments.seg_vip")
    assert sizes == {"size": 3, "holdout_size": 1, "contactable_size": 1}


def test_over_merged_profile_is_named_with_its_identifier_count(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        stats = identity_stats(DuckDBWarehouse(connection))
    assert stats["largest_customer_id"] == "c2"
    assert stats["source_records"] == 47
    verdict = overmerge_verdict(stats, max_identifiers=40)
    assert not verdict.passed
    assert "customer c2 has 60 identifiers" in verdict.description
    assert verdict.metadata["oversized_profiles"] == 1
    assert overmerge_verdict(stats, max_identifiers=100).passed  # share is not judged on 47


def test_one_profile_holding_too_many_records_fails_on_a_large_enough_set() -> None:
    stats = {
        "customers": 500,
        "source_records": 10_000,
        "oversized_profiles": 0,
        "largest_customer_id": "c9",
        "largest_identifiers": 12,
        "largest_records": 900,
    }
    verdict = overmerge_verdict(stats, max_identifiers=40, max_record_share=0.05)
    assert not verdict.passed
    assert "9.0% of all source records" in verdict.description


def test_freshness_lists_stale_and_empty_tables() -> None:
    now = 1_000_000.0
    newest = {"crm/contacts": now - 3600, "shop/orders": now - 30 * 3600, "email/events": None}
    verdict = freshness_verdict(newest, now=now, max_age_hours=26)
    assert not verdict.passed
    assert verdict.metadata["stale_tables"] == 2
    assert "email/events (no files)" in verdict.description
    assert "shop/orders (30.0 h)" in verdict.description
    assert freshness_verdict({"crm/contacts": now}, now=now, max_age_hours=26).passed


def test_newest_landing_mtimes_reads_every_landing_table(tmp_path: Path) -> None:
    write_csv_landing(tmp_path, {})
    os.utime(tmp_path / "crm/contacts/part-00000.csv", (100, 100))
    newest = newest_landing_mtimes(tmp_path)
    assert newest["crm/contacts"] == 100
    assert all(value is not None for value in newest.values())


def test_every_segment_model_with_meta_gets_a_blocking_size_check() -> None:
    manifest = checks._load_manifest()
    models = segment_models(manifest)
    assert "seg_champions" in models and "segment_memberships" not in models
    keys = {key for check in checks.segment_checks() for key in check.check_keys}
    assert len(keys) == len(models)
    assert all(spec.blocking for check in checks.all_checks() for spec in check.check_specs)


def test_freshness_severity_is_warn_unless_configured(monkeypatch) -> None:
    monkeypatch.delenv("CDP_LANDING_FRESHNESS_SEVERITY", raising=False)
    assert checks.freshness_severity() == AssetCheckSeverity.WARN
    monkeypatch.setenv("CDP_LANDING_FRESHNESS_SEVERITY", "error")
    assert checks.freshness_severity() == AssetCheckSeverity.ERROR


def _evaluations(result, check_name: str):
    return [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
        and event.asset_check_evaluation_data.check_name == check_name
    ]


def test_segment_check_compares_with_the_size_it_recorded_last_time(
    warehouse: Path, monkeypatch
) -> None:
    key = AssetKey(["segments", "seg_champions"])
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute("create table segments.seg_champions as from segments.seg_vip")
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(warehouse))
    monkeypatch.setenv("CDP_SEGMENT_MAX_CHANGE", "0.5")
    check = next(c for c in checks.segment_checks() if key in {k.asset_key for k in c.check_keys})
    job = define_asset_job("segment_check_only", selection=AssetSelection.checks(check))
    defs = Definitions(
        assets=[cdp_dbt_assets()],
        asset_checks=[check],
        jobs=[job],
        resources={"dbt": dbt_resource(), **checks.resources()},
    )

    with instance_for_test() as instance:
        first = defs.resolve_job_def("segment_check_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
        (evaluation,) = _evaluations(first, "segment_size")
        assert evaluation.passed
        assert evaluation.metadata["size"].value == 3

        with duckdb.connect(str(warehouse)) as connection:
            connection.execute(
                "insert into segments.seg_champions select 'x' || i, false, true from range(7) t(i)"
            )
        second = defs.resolve_job_def("segment_check_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
        (evaluation,) = _evaluations(second, "segment_size")
        assert not evaluation.passed
        assert evaluation.severity == AssetCheckSeverity.ERROR
        assert evaluation.metadata["previous_size"].value == 3
        assert evaluation.metadata["size"].value == 10
        assert "+233%" in (evaluation.description or "")


# --- sync failure rate --------------------------------------------------------------------


def _sync_run(**counts) -> dict:
    run = {
        "run_id": "0123456789abcdef",
        "status": "success",
        "added": 0,
        "changed": 0,
        "removed": 0,
        "failed": 0,
        "error": None,
    }
    return run | counts


def test_a_sync_run_without_rejections_passes_with_its_counts() -> None:
    verdict = sync_failure_verdict(_sync_run(added=900, changed=80, removed=20))
    assert verdict.passed
    assert verdict.metadata["attempted"] == 1000
    assert verdict.metadata["failed"] == 0
    assert verdict.metadata["run_id"] == "0123456789abcdef"
    assert "error" not in verdict.metadata


def test_a_failure_rate_above_the_maximum_fails() -> None:
    verdict = sync_failure_verdict(
        _sync_run(added=150, changed=30, removed=9, failed=11), max_failure_rate=0.05
    )
    assert not verdict.passed
    assert verdict.metadata["failure_rate"].value == 0.055
    verdict = sync_failure_verdict(_sync_run(added=180, failed=20), max_failure_rate=0.05)
    assert not verdict.passed
    assert "20 of 200 records failed (10.0%) in run 01234567" in verdict.description
    assert "more than the allowed 5.0%" in verdict.description


def test_the_maximum_itself_is_allowed() -> None:
    assert sync_failure_verdict(_sync_run(added=190, failed=10), max_failure_rate=0.05).passed


def test_the_rate_is_not_judged_below_the_minimum_number_of_records() -> None:
    verdict = sync_failure_verdict(_sync_run(added=5, failed=5), min_records=100)
    assert verdict.passed
    assert "judged from 100 records on" in verdict.description
    assert not sync_failure_verdict(_sync_run(added=5, failed=5), min_records=10).passed


def test_a_failed_run_fails_whatever_its_counts_and_names_the_error() -> None:
    verdict = sync_failure_verdict(
        _sync_run(status="failed", added=3, error="HTTPError: 401 for https://x/?key=***")
    )
    assert not verdict.passed
    assert "run 01234567 failed: HTTPError: 401" in verdict.description
    assert verdict.metadata["error"] == "HTTPError: 401 for https://x/?key=***"
    assert verdict.metadata["status"] == "failed"


def test_no_recorded_run_passes() -> None:
    verdict = sync_failure_verdict(None)
    assert verdict.passed
    assert "no finished run" in verdict.description


@pytest.fixture
def sync_runs(tmp_path: Path) -> Path:
    """A warehouse with the engine's own state tables and three runs of one sync."""
    path = tmp_path / "runs.duckdb"
    warehouse = DuckDBWarehouse.connect(path)
    ensure_state_tables(warehouse)
    warehouse.execute(
        """
        insert into reverse_etl.sync_runs
            (run_id, sync_name, started_at, finished_at, status, added, changed, removed,
             failed, requests, error)
        values
            ('old', 'champions_to_file', '2025-07-01 03:00', '2025-07-01 03:01', 'success',
             500, 0, 0, 0, 1, null),
            ('latest', 'champions_to_file', '2025-07-02 03:00', '2025-07-02 03:01', 'success',
             100, 50, 30, 20, 4, 'HTTPError: 422 on 20 records'),
            ('in_flight', 'champions_to_file', '2025-07-02 04:00', null, 'running',
             0, 0, 0, 0, 0, null),
            ('other', 'big_spenders_to_file', '2025-07-03 03:00', '2025-07-03 03:01', 'failed',
             0, 0, 0, 0, 0, 'ConnectionError')
        """
    )
    warehouse.close()
    return path


def test_latest_sync_run_is_the_newest_finished_one(sync_runs: Path, tmp_path: Path) -> None:
    with duckdb.connect(str(sync_runs), read_only=True) as connection:
        run = latest_sync_run(DuckDBWarehouse(connection), "champions_to_file")
        assert latest_sync_run(DuckDBWarehouse(connection), "nobody_to_file") is None
    assert run["run_id"] == "latest"
    assert (run["added"], run["changed"], run["removed"], run["failed"]) == (100, 50, 30, 20)
    with duckdb.connect(str(tmp_path / "empty.duckdb")) as connection:
        assert latest_sync_run(DuckDBWarehouse(connection), "champions_to_file") is None


def test_sync_check_fails_on_the_latest_run_and_alerts(sync_runs: Path, monkeypatch) -> None:
    alerted: list[tuple[str, str]] = []
    monkeypatch.setattr(
        checks,
        "alert_check_failure",
        lambda asset, check, description, metadata: alerted.append((asset, check)),
    )
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(sync_runs))
    monkeypatch.setenv("CDP_SYNC_MAX_FAILURE_RATE", "0.05")
    monkeypatch.setenv("CDP_SYNC_MIN_RECORDS", "100")
    key = AssetKey(["activation", "champions_to_file"])
    check = next(c for c in checks.sync_checks() if key in {k.asset_key for k in c.check_keys})
    job = define_asset_job("sync_check_only", selection=AssetSelection.checks(check))
    defs = Definitions(
        assets=sync_assets(), asset_checks=[check], jobs=[job], resources=checks.resources()
    )

    with instance_for_test() as instance:
        result = defs.resolve_job_def("sync_check_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
    (evaluation,) = _evaluations(result, "sync_failure_rate")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    metadata = {name: getattr(value, "value", value) for name, value in evaluation.metadata.items()}
    assert metadata["run_id"] == "latest"
    assert metadata["failed"] == 20 and metadata["attempted"] == 200
    assert metadata["failure_rate"] == 0.1
    assert metadata["error"] == "HTTPError: 422 on 20 records"
    assert "20 of 200 records failed (10.0%)" in (evaluation.description or "")
    # A failing blocking check fails its step, and it alerted.
    assert not result.success
    assert alerted == [("activation/champions_to_file", "sync_failure_rate")]


def test_every_sync_asset_has_a_blocking_failure_rate_check() -> None:
    keys = {key.asset_key for check in checks.sync_checks() for key in check.check_keys}
    assert keys == {asset.key for asset in sync_assets()}
    assert all(spec.blocking for check in checks.sync_checks() for spec in check.check_specs)


# --- consent and erasure applied ------------------------------------------------------------


def _unapplied_rows_warehouse(path: Path, rows: list[tuple]) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema privacy")
        connection.execute(
            "create table privacy.privacy_unapplied_rows (landing_table varchar,"
            " record_key varchar, reason varchar, landed_file varchar,"
            " row_fingerprint varchar, is_acknowledged boolean)"
        )
        for row in rows:
            connection.execute(
                "insert into privacy.privacy_unapplied_rows values (?, ?, ?, 'a.csv', ?, ?)", row
            )
    return path


def test_an_unapplied_deletion_request_fails_the_blocking_check_naming_its_key(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(checks, "alert_check_failure", lambda *args: None)
    path = _unapplied_rows_warehouse(
        tmp_path / "warehouse.duckdb",
        [
            (
                "privacy/deletion_requests",
                "dsr-9",
                "missing or invalid identifier_value",
                "f9",
                False,
            ),
            (
                "privacy/deletion_requests",
                "dsr-4",
                "missing or invalid identifier_value",
                "f4",
                True,
            ),
        ],
    )
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(path))
    check = checks.model_checks()["consent_and_erasure_applied"]
    assert all(spec.blocking for spec in check.check_specs)
    job = define_asset_job("consent_check_only", selection=AssetSelection.checks(check))
    defs = Definitions(
        assets=[cdp_dbt_assets()],
        asset_checks=[check],
        jobs=[job],
        resources={"dbt": dbt_resource(), **checks.resources()},
    )
    with instance_for_test() as instance:
        result = defs.resolve_job_def("consent_check_only").execute_in_process(
            instance=instance, raise_on_error=False
        )
    (evaluation,) = _evaluations(result, "consent_and_erasure_applied")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert "privacy/deletion_requests dsr-9: missing or invalid identifier_value" in (
        evaluation.description or ""
    )
    assert "dsr-4" not in (evaluation.description or "")  # acknowledged
    assert not result.success


def test_acknowledged_or_no_unapplied_rows_pass(tmp_path: Path) -> None:
    path = _unapplied_rows_warehouse(
        tmp_path / "warehouse.duckdb",
        [("consent/events", "ce-1", "unknown status", "f1", True)],
    )
    with duckdb.connect(str(path), read_only=True) as connection:
        verdict = checks.unapplied_rows_verdict(checks.unapplied_rows(DuckDBWarehouse(connection)))
    assert verdict.passed and verdict.metadata["acknowledged_rows"] == 1
    assert checks.unapplied_rows_verdict([]).passed
    assert not checks.unapplied_rows_verdict(None).passed
