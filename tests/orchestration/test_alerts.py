"""Alerts are posted as Slack-compatible JSON to the configured webhook, and always logged."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    build_run_status_sensor_context,
    job,
    op,
)

from orchestration.alerts import (
    alert_check_failure,
    post_alert,
    run_failure_alert,
    run_failure_text,
)


class _Webhook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, type[_Webhook]]]:
    handler = type("Webhook", (_Webhook,), {"received": [], "status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    finally:
        server.shutdown()
        server.server_close()


def test_without_a_webhook_the_alert_is_only_logged(monkeypatch, caplog) -> None:
    monkeypatch.delenv("CDP_ALERT_WEBHOOK_URL", raising=False)
    assert post_alert("segment too small") is False
    assert "segment too small" in caplog.text


def test_alert_is_posted_as_slack_json(webhook) -> None:
    url, handler = webhook
    assert post_alert("hello", url) is True
    assert handler.received == [{"text": "hello"}]


def test_a_failing_webhook_does_not_raise(webhook, caplog) -> None:
    url, handler = webhook
    handler.status = 500
    assert post_alert("hello", url) is False
    assert "Could not post" in caplog.text


def test_check_failure_path_posts_the_check_and_its_numbers(webhook, monkeypatch) -> None:
    url, handler = webhook
    monkeypatch.setenv("CDP_ALERT_WEBHOOK_URL", url)
    alert_check_failure("segments/seg_x", "segment_size", "too small", {"size": 0, "min_size": 1})
    (message,) = handler.received
    assert "segment_size" in message["text"]
    assert "segments/seg_x" in message["text"]
    assert "size=0" in message["text"]


def test_run_failure_text_keeps_the_first_line_of_the_error() -> None:
    text = run_failure_text("hourly_refresh", "0123456789abcdef", "boom\ntraceback...")
    assert text.endswith("hourly_refresh` failed (run 01234567): boom")


@op
def _explode() -> None:
    raise RuntimeError("dbt build failed")


@job
def _failing_job() -> None:
    _explode()


def test_run_failure_sensor_posts_the_failed_run(
    webhook, monkeypatch, dagster_instance: DagsterInstance
) -> None:
    url, handler = webhook
    monkeypatch.setenv("CDP_ALERT_WEBHOOK_URL", url)
    # A real failed run on a persistent instance (SQLite, then PostgreSQL).
    instance = dagster_instance
    result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
    failure = next(
        event for event in result.all_events if event.event_type == DagsterEventType.RUN_FAILURE
    )
    # The sensor reads the run back from the instance's run storage.
    stored_run = instance.get_run_by_id(result.run_id)
    assert stored_run is not None and stored_run.status.value == "FAILURE"
    context = build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_instance=instance,
        dagster_run=stored_run,
        dagster_event=failure,
    ).for_run_failure()
    run_failure_alert(context)
    (message,) = handler.received
    assert "_failing_job" in message["text"]
    assert result.run_id[:8] in message["text"]
