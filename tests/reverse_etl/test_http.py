"""The shared HTTP client and the webhook destination, against a server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from reverse_etl.config import SyncConfig
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import Batch, DestinationError, Record
from reverse_etl.destinations.webhook import WebhookDestination, WebhookDestinationConfig
from reverse_etl.engine import run_sync
from reverse_etl.http import HttpClient, RetriesExhausted, TokenBucket, parse_retry_after, redact
from reverse_etl.warehouse import DuckDBWarehouse

SECRET = "whsec-0123456789abcdef"
NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)


class ScriptedServer:
    """Answers each request with the next scripted (status, headers, body, delay)."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], bytes, float]] = []
        self.default: tuple[int, dict[str, str], bytes, float] = (200, {}, b"{}", 0.0)
        self.received: list[tuple[dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                server.received.append((dict(self.headers), self.rfile.read(length)))
                status, headers, body, delay = (
                    server.script.pop(0) if server.script else server.default
                )
                time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def respond(self, status: int, headers=None, body: bytes = b"{}", delay: float = 0.0):
        self.script.append((status, headers or {}, body, delay))


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    thread = threading.Thread(
        target=scripted.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield scripted
    scripted.httpd.shutdown()
    scripted.httpd.server_close()


def _client(sleeps: list[float], **options) -> HttpClient:
    settings = {
        "sleep": sleeps.append,
        "now": lambda: NOW,
        "jitter": lambda: 1.0,
        "timeout": 2.0,
        "backoff_base": 0.5,
    }
    return HttpClient(**(settings | options))


def test_a_429_waits_the_retry_after_seconds_then_succeeds(server):
    server.respond(429, {"Retry-After": "7"})
    server.respond(200)
    sleeps: list[float] = []

    response = _client(sleeps).request("POST", server.url, data=b"{}")

    assert response.status_code == 200
    assert sleeps == [7.0]
    assert len(server.received) == 2


def test_a_retry_after_http_date_is_honoured(server):
    server.respond(503, {"Retry-After": format_datetime(NOW + timedelta(seconds=12), usegmt=True)})
    server.respond(200)
    sleeps: list[float] = []

    _client(sleeps).request("POST", server.url)

    assert sleeps == [12.0]


def test_an_unreasonable_retry_after_is_capped(server):
    server.respond(429, {"Retry-After": "86400"})
    sleeps: list[float] = []

    _client(sleeps, max_retry_after=60.0).request("POST", server.url)

    assert sleeps == [60.0]


def test_a_burst_of_503s_backs_off_exponentially(server):
    for _ in range(3):
        server.respond(503)
    sleeps: list[float] = []

    response = _client(sleeps).request("POST", server.url)

    assert response.status_code == 200
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_uses_full_jitter_and_is_capped():
    client = HttpClient(jitter=lambda: 0.25, backoff_base=1.0, backoff_max=10.0)
    assert [client.backoff(attempt) for attempt in (1, 2, 3, 6)] == [0.25, 0.5, 1.0, 2.5]


def test_retries_stop_at_max_attempts(server):
    server.default = (503, {}, b"down", 0.0)
    sleeps: list[float] = []

    with pytest.raises(RetriesExhausted, match="after 3 attempts: HTTP 503"):
        _client(sleeps, max_attempts=3).request("POST", server.url)

    assert len(server.received) == 3
    assert len(sleeps) == 2


def test_a_timeout_is_retried(server):
    server.respond(200, delay=1.0)
    sleeps: list[float] = []

    response = _client(sleeps, timeout=0.2).request("POST", server.url)

    assert response.status_code == 200
    assert len(sleeps) == 1
    assert len(server.received) == 2


def test_a_refused_connection_is_retried_then_reported():
    sleeps: list[float] = []
    with pytest.raises(RetriesExhausted, match="ConnectionError"):
        _client(sleeps, max_attempts=2).request("POST", "http://127.0.0.1:9/unreachable")
    assert len(sleeps) == 1


def test_client_errors_are_returned_without_retrying(server):
    server.respond(400, body=b'{"error": "bad"}')
    sleeps: list[float] = []

    response = _client(sleeps).request("POST", server.url)

    assert response.status_code == 400
    assert sleeps == []


def test_the_token_bucket_spaces_requests_to_the_rate():
    clock = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += seconds

    bucket = TokenBucket(2.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(6):
        bucket.acquire()

    assert clock[0] == pytest.approx(2.0)  # 2 at once, then one every half second


def test_retry_after_parsing_accepts_seconds_and_dates_and_ignores_garbage():
    assert parse_retry_after("3", NOW) == 3.0
    assert parse_retry_after(format_datetime(NOW - timedelta(seconds=5), usegmt=True), NOW) == 0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_secrets_are_redacted_from_retry_logs(server, caplog):
    server.respond(503)
    client = _client([], secrets=[SECRET])

    with caplog.at_level(logging.WARNING, logger="reverse_etl.http"):
        client.request("POST", f"{server.url}?api_key={SECRET}")

    assert caplog.records
    assert SECRET not in caplog.text
    assert "***" in caplog.text


def test_redact_hides_authorization_headers_and_known_values():
    text = redact("{'Authorization': 'Bearer abc.def', 'X-Api-Key': 'k1'} token=zzz", ["zzz"])
    assert "abc.def" not in text
    assert "k1" not in text
    assert "zzz" not in text


def _batch() -> Batch:
    records = [
        Record("add", "c1", {"email": "a@example.com"}, "h1"),
        Record("add", "c2", {"email": "not-an-email"}, "h2"),
    ]
    return Batch("vip_list", "add", records)


def _webhook(server: ScriptedServer, monkeypatch, sleeps=None) -> WebhookDestination:
    monkeypatch.setenv("VIP_WEBHOOK_SECRET", SECRET)
    config = WebhookDestinationConfig(url=server.url, secret_env="VIP_WEBHOOK_SECRET")
    return WebhookDestination(config, client=_client(sleeps if sleeps is not None else []))


def test_the_webhook_signs_the_exact_body_with_hmac_sha256(server, monkeypatch):
    destination = _webhook(server, monkeypatch)

    destination.send(_batch())

    headers, body = server.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Signature"] == expected
    assert json.loads(body)["records"][0] == {"key": "c1", "payload": {"email": "a@example.com"}}
    assert SECRET.encode() not in body


def test_the_webhook_reports_per_record_rejections_and_ids(server, monkeypatch):
    answer = {"rejected": [{"key": "c2", "reason": "invalid email"}], "ids": {"c1": "sub_1"}}
    server.respond(200, body=json.dumps(answer).encode())

    result = _webhook(server, monkeypatch).send(_batch())

    assert result.acknowledged == {"c1": "sub_1"}
    assert result.rejected == {"c2": "invalid email"}
    assert result.requests == 1


def test_a_webhook_client_error_fails_the_batch_without_leaking_the_secret(server, monkeypatch):
    server.respond(401, body=f"bad signature, expected {SECRET}".encode())

    with pytest.raises(DestinationError) as raised:
        _webhook(server, monkeypatch).send(_batch())

    assert "401" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_the_webhook_needs_its_secret_in_the_environment(monkeypatch):
    monkeypatch.delenv("MISSING_SECRET", raising=False)
    config = WebhookDestinationConfig(url="http://127.0.0.1:9/", secret_env="MISSING_SECRET")
    with pytest.raises(DestinationError, match="MISSING_SECRET"):
        WebhookDestination(config)


def test_a_webhook_sync_retries_through_throttling_and_records_rejections(
    server, monkeypatch, tmp_path
):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            "create table segments.seg_vip as select * from (values"
            " ('c1', false, true, 'a@example.com'), ('c2', false, true, 'not-an-email'),"
            " ('c3', true, true, 'holdout@example.com'))"
            " as t(customer_id, is_holdout, has_consent, email)"
        )
    monkeypatch.setenv("VIP_WEBHOOK_SECRET", SECRET)
    sync = SyncConfig(
        name="vip_webhook",
        source="segments.seg_vip",
        fields={"email": "email"},
        destination={
            "type": "webhook",
            "options": {"url": server.url, "secret_env": "VIP_WEBHOOK_SECRET"},
        },
        secret_env=["VIP_WEBHOOK_SECRET"],
    )
    destination = build_destination(sync)
    destination.client = _client([])
    destination.client.add_secret(SECRET)
    server.respond(429, {"Retry-After": "1"})
    server.respond(200, body=json.dumps({"rejected": [{"key": "c2", "reason": "bad"}]}).encode())
    warehouse = DuckDBWarehouse.connect(path)

    result = run_sync(sync, warehouse, destination)

    assert (result.added, result.failed, result.requests) == (1, 1, 2)
    sent_keys = [record["key"] for record in json.loads(server.received[-1][1])["records"]]
    assert sent_keys == ["c1", "c2"]
    assert warehouse.fetchall("select record_key from reverse_etl.sync_rejections") == [("c2",)]
    for table in ("sync_state", "sync_runs", "sync_rejections"):
        assert SECRET not in repr(warehouse.fetchall(f"select * from reverse_etl.{table}"))
    warehouse.close()


@pytest.mark.parametrize("batch_size", [1, 10, 23, 25])
def test_a_webhook_outage_mid_stream_loses_nothing_and_resends_nothing(
    server, monkeypatch, tmp_path, batch_size
):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            "create table segments.seg_vip as select 'c' || lpad(range::varchar, 3, '0')"
            " as customer_id, false as is_holdout, true as has_consent,"
            " 'p' || range || '@example.com' as email from range(50)"
        )
    monkeypatch.setenv("VIP_WEBHOOK_SECRET", SECRET)
    sync = SyncConfig(
        name="vip_webhook",
        source="segments.seg_vip",
        fields={"email": "email"},
        batch_size=batch_size,
        destination={
            "type": "webhook",
            "options": {
                "url": server.url,
                "secret_env": "VIP_WEBHOOK_SECRET",
                "max_batch_size": 25,
            },
        },
    )
    destination = build_destination(sync)
    destination.client = _client([], max_attempts=2)
    warehouse = DuckDBWarehouse.connect(path)
    batches = -(-50 // min(batch_size, 25))
    for _ in range(batches // 2):
        server.respond(200)
    server.default = (500, {}, b"outage", 0.0)

    with pytest.raises(RetriesExhausted):
        run_sync(sync, warehouse, destination)

    server.default = (200, {}, b"{}", 0.0)
    run_sync(sync, warehouse, destination)

    acknowledged: list[str] = []
    for position, (_, body) in enumerate(server.received):
        # The outage answered the requests after the scripted successes; those were retried.
        failed = batches // 2 <= position < batches // 2 + 2
        if not failed:
            acknowledged.extend(record["key"] for record in json.loads(body)["records"])
    assert sorted(acknowledged) == [f"c{number:03d}" for number in range(50)]
    state = warehouse.fetchall("select count(*) from reverse_etl.sync_state")
    assert state == [(50,)]
    warehouse.close()
