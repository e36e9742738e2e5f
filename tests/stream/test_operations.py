"""Operating the stream: its health from its files (lag, ingest, rejects, last evaluation), the
Dagster checks and sensor over it, `cdp stream --status`, and `cdp stream --replay DIR`."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import AssetCheckSeverity, SensorResult, build_sensor_context

from cdp.cli import main
from cdp.pipeline import Settings
from cdp.stream.collector import RejectLog
from cdp.stream.eventlog import EventLog
from cdp.stream.health import (
    HealthBounds,
    HealthReporter,
    health_problems,
    read_health,
    reject_problems,
)
from cdp.stream.paths import StreamPaths
from cdp.stream.replay import Replayer, ReplayError, drop_events
from cdp.stream.service import StreamService
from orchestration.checks import CheckThresholds
from orchestration.stream import HEALTH_CHECK, REJECTS_CHECK, stream_health_sensor
from tests.stream.conftest import WRITE_KEY, track
from tests.stream.process import wait_for

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def write_log(stream_dir: Path, received: list[datetime]) -> None:
    log = EventLog(StreamPaths(stream_dir).log_dir)
    try:
        for number, at in enumerate(received):
            log.append([track("Product Viewed", at.replace(tzinfo=None), f"m-{number}")], at)
    finally:
        log.close()


def write_heartbeat(
    stream_dir: Path,
    *,
    written_at: datetime,
    committed: int,
    stopped: bool = False,
    waiting_for_build: bool = False,
) -> None:
    reporter = HealthReporter(
        StreamPaths(stream_dir),
        collector=lambda: {"accepted": 3, "rejected": 0},
        workers=lambda: {
            "evaluator": {
                "errors": 0,
                "committed_offset": committed,
                "last_step_at": written_at.isoformat(),
                "waiting_for_build": waiting_for_build,
            }
        },
        listening="http://127.0.0.1:0",
        clock=lambda: written_at,
    )
    reporter.write(stopped=stopped)


def kinds(problems) -> list[str]:
    return [problem.kind for problem in problems]


# --- health from disk -----------------------------------------------------------------------


def test_lag_is_read_from_the_log_on_disk_and_judged_by_the_oldest_unevaluated_event(tmp_path):
    stream_dir = tmp_path / "stream"
    write_log(stream_dir, [NOW - timedelta(seconds=s) for s in (300, 90, 10)])
    write_heartbeat(stream_dir, written_at=NOW - timedelta(seconds=2), committed=1)

    health = read_health(stream_dir, now=NOW)

    assert health.log_end_offset == 3 and health.evaluated_offset == 1
    assert health.lag_events == 2
    assert health.lag_seconds == pytest.approx(90)  # offset 1 waits since 90 s
    assert kinds(health_problems(health, HealthBounds(max_lag_seconds=60))) == ["lagging"]
    assert health_problems(health, HealthBounds(max_lag_seconds=120)) == []
    summary = health.summary()
    assert summary["lag_events"] == 2 and summary["accepted_since_start"] == 3


def test_a_caught_up_stream_is_healthy_whatever_the_age_of_its_events(tmp_path):
    stream_dir = tmp_path / "stream"
    write_log(stream_dir, [NOW - timedelta(days=3)])
    write_heartbeat(stream_dir, written_at=NOW - timedelta(seconds=4), committed=1)

    health = read_health(stream_dir, now=NOW)

    assert health.lag_events == 0 and health.lag_seconds == 0
    assert health_problems(health, HealthBounds()) == []


def test_never_started_down_stopped_and_waiting_are_each_reported(tmp_path):
    never = read_health(tmp_path / "nothing", now=NOW)
    assert not never.started
    assert kinds(health_problems(never, HealthBounds())) == ["never_started"]

    stale = tmp_path / "stale"
    write_heartbeat(stale, written_at=NOW - timedelta(minutes=5), committed=0)
    problems = health_problems(read_health(stale, now=NOW), HealthBounds())
    assert kinds(problems) == ["down"] and "300 s old" in problems[0].sentence

    stopped = tmp_path / "stopped"
    write_heartbeat(stopped, written_at=NOW - timedelta(seconds=1), committed=0, stopped=True)
    assert kinds(health_problems(read_health(stopped, now=NOW), HealthBounds())) == ["down"]

    waiting = tmp_path / "waiting"
    write_heartbeat(
        waiting, written_at=NOW - timedelta(seconds=1), committed=0, waiting_for_build=True
    )
    problems = health_problems(read_health(waiting, now=NOW), HealthBounds())
    assert kinds(problems) == ["waiting"] and "cdp run" in problems[0].sentence

    torn = tmp_path / "torn"
    StreamPaths(torn).root.mkdir()
    StreamPaths(torn).health_file.write_text("{not json")
    problems = health_problems(read_health(torn, now=NOW), HealthBounds())
    assert kinds(problems) == ["never_started"] and "not JSON" in problems[0].sentence


def test_rejects_of_the_last_hour_are_counted_from_the_reject_log(tmp_path):
    stream_dir = tmp_path / "stream"
    rejects = RejectLog(StreamPaths(stream_dir).reject_dir)
    rejects.write(
        [{"received_at": (NOW - timedelta(minutes=m)).isoformat(), "reason": "x"} for m in (5, 59)]
        + [{"received_at": (NOW - timedelta(minutes=61)).isoformat(), "reason": "x"}]
    )
    health = read_health(stream_dir, now=NOW)
    assert health.rejects_last_hour == 2
    assert reject_problems(health, HealthBounds(max_rejects_per_hour=2)) == []
    assert kinds(reject_problems(health, HealthBounds(max_rejects_per_hour=1))) == ["rejects"]


def test_the_service_writes_its_heartbeat_while_it_runs_and_marks_a_clean_stop(tmp_path):
    settings = Settings(raw_dir=tmp_path / "raw", duckdb_path=tmp_path / "warehouse.duckdb")
    service = StreamService(
        settings, tmp_path / "stream", worker_factory=None, health_seconds=0.1, port=0
    )
    health_file = StreamPaths(tmp_path / "stream").health_file
    service.start_workers()
    try:
        assert wait_for(health_file.exists, 10)
        beat = json.loads(health_file.read_text())
        assert beat["stopped_at"] is None and beat["pid"] > 0
        assert beat["collector"]["accepted"] == 0
        assert beat["workers"]["landing"] == {
            "errors": 0,
            "last_error": None,
            "committed_offset": 0,
            "landed": 0,
        }
    finally:
        service.shutdown()
    assert json.loads(health_file.read_text())["stopped_at"] is not None


# --- Dagster ----------------------------------------------------------------------------------


def test_the_sensor_reports_the_checks_when_they_change_and_alerts_once(
    tmp_path, monkeypatch, httpserver
):
    stream_dir = tmp_path / "stream"
    monkeypatch.setenv("CDP_STREAM_DIR", str(stream_dir))
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv("CDP_ALERT_WEBHOOK_URL", httpserver.url_for("/hook"))
    now = datetime.now(UTC)
    write_log(stream_dir, [now - timedelta(minutes=10), now - timedelta(seconds=5)])
    write_heartbeat(stream_dir, written_at=now, committed=0)  # 10 minutes behind

    def evaluate(cursor: str | None) -> SensorResult:
        context = build_sensor_context(
            cursor=cursor, resources={"check_thresholds": CheckThresholds()}
        )
        result = stream_health_sensor(context)
        return result

    first = evaluate(None)
    by_name = {event.check_name: event for event in first.asset_events}
    assert set(by_name) == {HEALTH_CHECK, REJECTS_CHECK}
    health = by_name[HEALTH_CHECK]
    assert not health.passed and health.severity == AssetCheckSeverity.ERROR
    assert "not evaluated" in health.description
    assert health.metadata["lag_events"].value == 2
    assert by_name[REJECTS_CHECK].passed
    assert len(httpserver.log) == 1  # one alert, for the check that started to fail

    again = evaluate(first.cursor)
    assert not again.asset_events and again.skip_reason is not None
    assert len(httpserver.log) == 1

    write_heartbeat(stream_dir, written_at=datetime.now(UTC), committed=2)  # caught up
    healed = evaluate(again.cursor)
    assert [(event.check_name, event.passed) for event in healed.asset_events] == [
        (HEALTH_CHECK, True)
    ]


# --- the command line -------------------------------------------------------------------------


def test_status_prints_the_health_and_exits_1_when_the_stream_never_ran(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "stream",
            "--status",
            "--stream-dir",
            str(tmp_path / "stream"),
            "--duckdb-path",
            str(tmp_path / "w.duckdb"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "never started" in result.output and "PROBLEM" in result.output


def test_replay_mistakes_are_usage_errors_before_anything_starts(tmp_path):
    empty = tmp_path / "drop"
    empty.mkdir()
    arguments = ["stream", "--port", "0", "--stream-dir", str(tmp_path / "stream")]
    runner = CliRunner()

    no_events = runner.invoke(
        main, [*arguments, "--duckdb-path", str(tmp_path / "w.duckdb"), "--replay", str(empty)]
    )
    assert no_events.exit_code == 2
    assert "holds no event files" in no_events.output and "cdp generate --drop" in no_events.output

    write_drop(empty, [("m1", "u1", "Product Added", "2025-06-30T10:00:00Z", "{}")])
    no_warehouse = runner.invoke(
        main, [*arguments, "--duckdb-path", str(tmp_path / "w.duckdb"), "--replay", str(empty)]
    )
    assert no_warehouse.exit_code == 2 and "cdp run" in no_warehouse.output

    missing = runner.invoke(main, [*arguments, "--replay", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


# --- replay -----------------------------------------------------------------------------------


def write_drop(root: Path, tracks: list[tuple], identifies: list[tuple] = ()) -> Path:
    folders = {"events/tracks": tracks, "events/identifies": identifies}
    headers = {
        "events/tracks": [
            "message_id",
            "anonymous_id",
            "user_id",
            "event",
            "timestamp",
            "properties",
        ],
        "events/identifies": [
            "message_id",
            "anonymous_id",
            "user_id",
            "email",
            "timestamp",
            "traits",
        ],
    }
    for table, rows in folders.items():
        if not rows:
            continue
        folder = root / table
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "part-00000.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers[table])
            for message_id, user_id, event, at, payload in rows:
                writer.writerow([message_id, "", user_id, event, at, payload])
    return root


def test_replay_sends_a_drop_in_time_order_as_if_it_happened_now(tmp_path, collector_server):
    drop = write_drop(
        tmp_path / "drop",
        tracks=[
            ("t-late", "u1", "Product Added", "2025-06-30T10:05:00Z", '{"sku": "A"}'),
            ("t-early", "u1", "Product Viewed", "2025-06-30 10:00:00", "{}"),
            ("t-bad-time", "u2", "Product Viewed", "last tuesday", "{}"),
            ("t-bad-props", "u2", "Product Viewed", "2025-06-30T10:06:00Z", "not json"),
        ],
        identifies=[("i-1", "u1", "a@example.com", "2025-06-30T10:01:00Z", '{"plan": "pro"}')],
    )
    before = datetime.now(UTC)
    result = Replayer(collector_server.url, write_key=WRITE_KEY, speed=0, echo=lambda _: None)
    outcome = result.replay(drop)

    assert (outcome.total, outcome.sent, outcome.accepted, outcome.rejected) == (5, 5, 3, 2)
    logged = list(collector_server.log.read())
    assert [event.message["messageId"] for event in logged] == ["t-early", "i-1", "t-late"]
    for event in logged:
        sent_at = datetime.fromisoformat(event.message["timestamp"].replace("Z", "+00:00"))
        assert sent_at >= before - timedelta(seconds=1)  # the send time, not 2025's
    assert logged[1].message["traits"] == {"plan": "pro", "email": "a@example.com"}
    reasons = [
        json.loads(line)["reason"]
        for path in collector_server.paths.reject_dir.glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert len(reasons) == 2 and any("timestamp" in reason for reason in reasons)
    assert any("properties" in reason for reason in reasons)


def test_replay_speed_compresses_the_drop_time(tmp_path):
    drop = write_drop(
        tmp_path / "drop",
        tracks=[
            (
                f"t-{second}",
                "u1",
                "Product Viewed",
                f"2025-06-30T10:{second // 60:02d}:{second % 60:02d}Z",
                "{}",
            )
            for second in (0, 30, 180)
        ]
        + [("t-late", "u1", "Product Viewed", "2025-05-01T00:00:00Z", "{}")],
    )
    moments = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(round(seconds, 3))
        moments[0] += seconds

    replayer = Replayer(
        "http://127.0.0.1:9", speed=60, echo=lambda _: None, clock=lambda: moments[0], sleep=sleep
    )
    posted: list[int] = []
    replayer._post = lambda batch, result: posted.append(len(batch))  # no collector needed
    replayer.replay(drop)
    # a late arrival from May goes first; then half a second for 30 s of the drop at 60 times
    # real time, and a second (2.5 s, shortened) for the next 150 s
    assert waits == [1.0, 0.5, 1.0]
    assert posted == [1, 1, 1, 1]


def test_a_folder_of_unreadable_event_files_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "drop" / "events" / "tracks"
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"not parquet")
    warnings: list[str] = []
    with pytest.raises(ReplayError, match="none of the event files"):
        drop_events(tmp_path / "drop", warn=warnings.append)
    assert len(warnings) == 1 and "part-0.parquet" in warnings[0]
