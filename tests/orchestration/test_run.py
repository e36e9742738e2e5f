"""One real run of the nightly job on the sample, shared by every test in this module.

The run (about 1-2 minutes) builds the whole graph in process. One segment's blocking check is
made to fail the way it would in production: its previous evaluation recorded 100,000
members, so the sample's few hundred are a fall far beyond CDP_SEGMENT_MAX_CHANGE. The tests
then read both sides of the gate from that one run: that segment's sync does not run and the
failure is alerted, while the dbt build, the other checks and every other sync complete.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    ExecuteInProcessResult,
)

from cdp.activation import batch_syncs, project_syncs
from orchestration.dbt import cdp_dbt_assets, dbt_project
from tests.orchestration.conftest import DAGSTER_STORAGES, dagster_instance_on

GATED_SEGMENT = AssetKey(["segments", "seg_big_spenders"])
GATED_SYNC = AssetKey(["activation", "big_spenders_to_file"])
PREVIOUS_SIZE = 100_000


@dataclass
class NightlyRun:
    result: ExecuteInProcessResult
    alerts: list[dict]
    log_messages: list[str]
    storage: str
    event_log_storage: str
    # postgres: the run's event types as rows of the database, read with a client of its own
    stored_event_types: list[str] | None

    def evaluation(self, asset_key: AssetKey, check_name: str):
        (evaluation,) = [
            event.asset_check_evaluation_data
            for event in self.result.all_events
            if event.event_type_value == "ASSET_CHECK_EVALUATION"
            and event.asset_check_evaluation_data.asset_key == asset_key
            and event.asset_check_evaluation_data.check_name == check_name
        ]
        return evaluation

    def step_keys(self, event_type: str) -> set[str]:
        return {
            event.step_key
            for event in self.result.all_events
            if event.event_type_value == event_type
        }


@contextmanager
def _webhook() -> Iterator[tuple[str, list[dict]]]:
    """A Slack-compatible webhook on 127.0.0.1 that keeps what it receives."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=DAGSTER_STORAGES)
def nightly_run(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest, defs
) -> NightlyRun:
    """The run on a persistent instance: once on SQLite, once on PostgreSQL."""
    storage = request.param
    tmp_path = tmp_path_factory.mktemp(f"nightly-{storage}")
    with pytest.MonkeyPatch.context() as monkeypatch, _webhook() as (url, received):
        # DuckDB names the database after the file, and the manifest's relations carry that
        # name, so the warehouse keeps the default file name.
        monkeypatch.setenv("CDP_DUCKDB_PATH", str(tmp_path / "cdp.duckdb"))
        monkeypatch.setenv("CDP_AS_OF", "2025-07-01")
        monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
        monkeypatch.setenv("CDP_LANDING_FRESHNESS_SEVERITY", "WARN")
        monkeypatch.setenv("CDP_SEGMENT_MAX_CHANGE", "0.5")
        monkeypatch.setenv("CDP_ALERT_WEBHOOK_URL", url)
        # One dbt thread keeps this run's time and memory predictable on a 2-core machine.
        monkeypatch.setenv("CDP_THREADS", "1")
        # dagster-dbt gives each invocation its own target folder; remove the one made here.
        targets = dbt_project().project_dir / "target"
        before = {path.name for path in targets.glob("cdp_dbt_assets-*")}
        try:
            with dagster_instance_on(storage, tmp_path / "dagster_home", request) as instance:
                # The size check compares with the size its last evaluation recorded; one of
                # 100,000 makes the sample's members a collapse beyond CDP_SEGMENT_MAX_CHANGE.
                instance.report_runless_asset_event(
                    AssetCheckEvaluation(
                        asset_key=GATED_SEGMENT,
                        check_name="segment_size",
                        passed=True,
                        metadata={"size": PREVIOUS_SIZE},
                    )
                )
                result = defs.resolve_job_def("nightly_build").execute_in_process(
                    instance=instance, raise_on_error=False
                )
                log_messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
                event_log_storage = type(instance.event_log_storage).__name__
                stored_event_types = (
                    _stored_event_types(request, result.run_id) if storage == "postgres" else None
                )
        finally:
            for path in targets.glob("cdp_dbt_assets-*"):
                if path.name not in before:
                    shutil.rmtree(path, ignore_errors=True)
        return NightlyRun(
            result, list(received), log_messages, storage, event_log_storage, stored_event_types
        )


def _stored_event_types(request: pytest.FixtureRequest, run_id: str) -> list[str]:
    """The run's events as the PostgreSQL database holds them (DAGSTER_PG_DB, set meanwhile)."""
    connection = request.getfixturevalue("postgres").connect(os.environ["DAGSTER_PG_DB"])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "select dagster_event_type from event_logs where run_id = %s order by id", (run_id,)
            )
            return [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()


def test_the_run_is_kept_in_the_instances_storage(nightly_run: NightlyRun) -> None:
    if nightly_run.storage == "sqlite":
        assert nightly_run.event_log_storage.startswith("Sqlite")
        return
    assert nightly_run.event_log_storage == "PostgresEventLogStorage"
    stored = nightly_run.stored_event_types
    assert stored is not None and len(stored) == len(nightly_run.log_messages)
    for event_type in (
        DagsterEventType.RUN_START,
        DagsterEventType.ASSET_MATERIALIZATION,
        DagsterEventType.ASSET_CHECK_EVALUATION,
        DagsterEventType.RUN_FAILURE,
    ):
        assert event_type.value in stored


def test_the_dbt_build_completes_with_row_counts(nightly_run: NightlyRun) -> None:
    materializations = {
        event.asset_key: event.metadata
        for event in nightly_run.result.asset_materializations_for_node("cdp_dbt_assets")
    }
    assert set(cdp_dbt_assets().keys) <= set(materializations)
    assert materializations[AssetKey(["core", "customers"])]["dagster/row_count"].value > 0
    assert "cdp_dbt_assets" in nightly_run.step_keys("STEP_SUCCESS")


def test_the_other_checks_pass(nightly_run: NightlyRun) -> None:
    overmerge = nightly_run.evaluation(AssetKey(["core", "customers"]), "identity_over_merge")
    assert overmerge.passed
    assert overmerge.metadata["largest_identifiers"].value <= 40
    champions = nightly_run.evaluation(AssetKey(["segments", "seg_champions"]), "segment_size")
    assert champions.passed
    assert champions.metadata["size"].value > 0
    freshness = nightly_run.evaluation(AssetKey(["audit", "landing_audit"]), "landing_freshness")
    # The committed sample is older than a day; on it freshness only warns.
    assert freshness.passed or freshness.severity == AssetCheckSeverity.WARN


def test_a_segment_that_lost_most_members_fails_its_blocking_check(
    nightly_run: NightlyRun,
) -> None:
    evaluation = nightly_run.evaluation(GATED_SEGMENT, "segment_size")
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.ERROR
    assert evaluation.metadata["previous_size"].value == PREVIOUS_SIZE
    assert evaluation.metadata["size"].value < PREVIOUS_SIZE / 2
    assert "more than the allowed 50%" in (evaluation.description or "")
    # The failed blocking check is the run's only failure, so the run reports it.
    assert not nightly_run.result.success
    (failed_step,) = nightly_run.step_keys("STEP_FAILURE")
    assert "seg_big_spenders" in failed_step and "segment_size" in failed_step


def test_the_failed_check_stops_its_sync_and_only_that_sync(nightly_run: NightlyRun) -> None:
    materialized = {
        event.asset_key
        for event in nightly_run.result.all_events
        if event.event_type_value == "ASSET_MATERIALIZATION"
    }
    syncs = {AssetKey(["activation", sync.name]) for sync in batch_syncs(project_syncs())}
    assert GATED_SYNC in syncs
    assert GATED_SYNC not in materialized
    assert syncs - {GATED_SYNC} <= materialized
    # Dagster never starts the step, and says why.
    assert "activation__big_spenders_to_file" not in nightly_run.step_keys("STEP_START")
    (reason,) = [
        message
        for message in nightly_run.log_messages
        if message.startswith("Dependencies for step activation__big_spenders_to_file ")
    ]
    assert "seg_big_spenders" in reason and "segment_size" in reason
    assert "Not executing" in reason


def test_every_sync_records_what_it_sent_and_passes_its_failure_rate_check(
    nightly_run: NightlyRun,
) -> None:
    (champions,) = nightly_run.result.asset_materializations_for_node(
        "activation__champions_to_file"
    )
    assert champions.metadata["added"].value > 0
    check = nightly_run.evaluation(
        AssetKey(["activation", "champions_to_file"]), "sync_failure_rate"
    )
    assert check.passed
    assert check.metadata["run_id"].value == champions.metadata["run_id"].value
    assert check.metadata["failed"].value == 0
    assert check.metadata["attempted"].value == champions.metadata["added"].value


def test_the_failed_check_is_posted_to_the_webhook(nightly_run: NightlyRun) -> None:
    texts = [message["text"] for message in nightly_run.alerts]
    gated = [text for text in texts if "segments/seg_big_spenders" in text]
    assert len(gated) == 1
    assert "segment_size" in gated[0] and f"previous_size={PREVIOUS_SIZE}" in gated[0]
