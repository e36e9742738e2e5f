"""Helpers the reverse-ETL tests share: the members warehouse, its desired rows, and routing
a local HTTP server to a fake API."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import duckdb
from pytest_httpserver import HTTPServer

from reverse_etl.http import HttpClient
from reverse_etl.warehouse import DuckDBWarehouse

NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)


def vip_warehouse(tmp_path: Path | None, count: int) -> DuckDBWarehouse:
    """`segments.seg_vip` of `count` people: every 7th a holdout, every 5th without consent;
    `core.customers` says nobody is erased yet.

    In a DuckDB file under `tmp_path`, or in memory without one.
    """
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb") if tmp_path else ":memory:")
    connection.execute("create schema segments")
    connection.execute("create schema core")
    connection.execute(
        f"""
        create table segments.seg_vip as
        select
            printf('c%03d', n) as customer_id,
            n % 7 = 3 as is_holdout,
            n % 5 <> 4 as has_consent,
            'Person' || n || '@Example.com' as email,
            '+31 6 ' || (10000000 + n) as phone,
            'First' || n as first_name,
            'Last' || n as last_name,
            'Amsterdam' as city,
            '1017 CE' as zip,
            'NL' as country,
        from range({int(count)}) as numbers(n)
        """
    )
    connection.execute(
        "create table core.customers as"
        " select customer_id, false as is_erased from segments.seg_vip"
    )
    return DuckDBWarehouse(connection)


def desired_rows(warehouse: DuckDBWarehouse) -> dict[str, str]:
    """customer id -> email of the members a destination should hold: consented, not
    holdout, not erased."""
    rows = warehouse.fetchall(
        """
        select s.customer_id, s.email from segments.seg_vip as s
        inner join core.customers as c using (customer_id)
        where s.has_consent and not s.is_holdout and not c.is_erased
        """
    )
    return dict(rows)


def serve(server: HTTPServer, handle) -> str:
    """Route every request of `server` to `handle`; returns the server's base URL."""
    server.clear()
    server.expect_request(re.compile(r"^/.*")).respond_with_handler(handle)
    return f"http://127.0.0.1:{server.port}"


@dataclass
class Received:
    """One request a fake server received, and the status it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class JsonFake:
    """A fake API on a threaded local server: every request is recorded in `received` and
    answered by `answer(request)` as (status, headers, JSON body, delay), under `lock`.
    `respond` queues answers for the next requests (the subclass's `answer` serves them)."""

    content_type = "application/json"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[tuple[int, dict[str, str], Any, float]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = Received(
                    self.command, self.path, dict(self.headers), self.rfile.read(length)
                )
                with fake.lock:
                    fake.received.append(request)
                    status, headers, body, delay = fake.answer(request)
                    request.status = status
                time.sleep(delay)
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", fake.content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_DELETE = do_GET = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def respond(self, status: int, body: Any, headers=None, delay: float = 0.0) -> None:
        self.script.append((status, headers or {}, body, delay))

    def answer(self, request: Received) -> tuple[int, dict[str, str], Any, float]:
        raise NotImplementedError


@contextlib.contextmanager
def serving(fake: JsonFake) -> Iterator[JsonFake]:
    """The fake's server answering in a thread until the block ends."""
    thread = threading.Thread(
        target=fake.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()


def quiet_client(sleeps: list[float], **options: Any) -> HttpClient:
    """A client whose waits are recorded in `sleeps` instead of slept, with a fixed jitter
    and clock, so retries and backoff can be asserted exactly."""
    settings = {
        "sleep": sleeps.append,
        "now": lambda: NOW,
        "jitter": lambda: 1.0,
        "timeout": 2.0,
        "backoff_base": 0.5,
    }
    return HttpClient(**(settings | options))
