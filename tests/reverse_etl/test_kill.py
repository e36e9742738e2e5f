"""A sync process killed with SIGKILL mid-run, then run again, loses and duplicates nothing.

The sync runs as its own process (`python -m reverse_etl`) against a signed webhook on
127.0.0.1. The server holds one request open and the test kills the process while that batch
is in flight: every earlier batch was acknowledged and committed, the held one was not. The
second process must send the held batch and the rest, never an acknowledged record again,
and leave the destination holding exactly the desired members.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest

MEMBERS = 230
BATCH_SIZE = 10
HOLD_REQUEST = 7  # the 7th request is in flight when the process is killed
SECRET = "kill-test-secret-9f8e7d"


class HoldingWebhook:
    """Acknowledges every batch, except that it holds one request until released."""

    def __init__(self, hold_request: int | None) -> None:
        self.hold_request = hold_request
        self.requests = 0
        self.acknowledged: list[tuple[str, str]] = []  # (operation, key) answered with 200
        self.members: set[str] = set()
        self.holding = threading.Event()
        self.release = threading.Event()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                webhook.requests += 1
                if webhook.requests == webhook.hold_request:
                    webhook.holding.set()
                    webhook.release.wait(timeout=30)
                    return  # the client is dead; nothing was acknowledged
                for record in body["records"]:
                    webhook.acknowledged.append((body["operation"], record["key"]))
                    if body["operation"] in ("remove", "erase"):
                        webhook.members.discard(record["key"])
                    else:
                        webhook.members.add(record["key"])
                payload = b"{}"
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"


@pytest.fixture
def webhook() -> Iterator[HoldingWebhook]:
    server = HoldingWebhook(hold_request=HOLD_REQUEST)
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.httpd.shutdown()
    server.httpd.server_close()


def vip_rows() -> list[tuple[str, bool, bool, str]]:
    """A segment of MEMBERS people; every 9th is a holdout, every 7th has no consent."""
    return [
        (f"c{number:04d}", number % 9 == 0, number % 7 != 0, f"c{number:04d}@example.com")
        for number in range(MEMBERS)
    ]


def desired_members() -> set[str]:
    return {key for key, holdout, consent, _ in vip_rows() if consent and not holdout}


def _warehouse(path: Path) -> set[str]:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            "create table segments.seg_vip (customer_id varchar, is_holdout boolean,"
            " has_consent boolean, email varchar)"
        )
        connection.executemany("insert into segments.seg_vip values (?, ?, ?, ?)", vip_rows())
    return desired_members()


def sync_file(path: Path, url: str) -> Path:
    config = path / "syncs.yml"
    config.write_text(
        f"""
syncs:
  - name: vip_hook
    source: segments.seg_vip
    fields: {{email: email}}
    erasure_relation: null
    secret_env: [KILL_TEST_SECRET]
    destination:
      type: webhook
      options: {{url: "{url}", secret_env: KILL_TEST_SECRET, max_batch_size: {BATCH_SIZE},
                 max_attempts: 1}}
"""
    )
    return config


def start_sync(config: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m reverse_etl` in its own process group, so a kill takes all of it (a Spark
    sync's JVM too)."""
    return subprocess.Popen(
        [sys.executable, "-m", "reverse_etl", str(config), *options],
        env=os.environ | {"KILL_TEST_SECRET": SECRET} | (env or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def check_kill_and_resume(
    webhook: HoldingWebhook,
    desired: set[str],
    start: Callable[[], subprocess.Popen],
    read_state: Callable[[], tuple[set[str], list[tuple[str, int]]]],
    *,
    timeout: float = 120,
) -> None:
    """Kill the first sync while the HOLD_REQUEST-th batch is in flight; then check that the
    next run sends the rest exactly once and the state and run log say so."""
    first = start()
    assert webhook.holding.wait(timeout=timeout), first.communicate()[0]
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    webhook.release.set()
    acknowledged_before_kill = list(webhook.acknowledged)
    assert len(acknowledged_before_kill) == (HOLD_REQUEST - 1) * BATCH_SIZE

    second = start()
    output = second.communicate(timeout=timeout)[0].decode()
    assert second.returncode == 0, output
    assert "marked 1 run(s) left running by a stopped process as abandoned" in output

    sent_again = webhook.acknowledged[len(acknowledged_before_kill) :]
    assert not set(sent_again) & set(acknowledged_before_kill)
    assert webhook.members == desired
    assert len(webhook.acknowledged) == len(desired)  # each member acknowledged exactly once
    assert SECRET not in output

    state, runs = read_state()
    assert state == desired
    # The killed run never finished: the next start marked it abandoned (no live process held
    # the warehouse's sync lock); its counters show what it had committed.
    assert runs == [("abandoned", len(acknowledged_before_kill)), ("success", len(sent_again))]

    third = start()
    assert third.communicate(timeout=timeout)[0] and third.returncode == 0
    assert len(webhook.acknowledged) == len(desired)  # nothing changed, nothing sent


def test_a_sync_killed_mid_batch_resumes_without_loss_or_resending(tmp_path, webhook):
    database = tmp_path / "warehouse.duckdb"
    desired = _warehouse(database)
    config = sync_file(tmp_path, webhook.url)

    def read_state() -> tuple[set[str], list[tuple[str, int]]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            state = {
                row[0]
                for row in connection.execute(
                    "select record_key from reverse_etl.sync_state"
                ).fetchall()
            }
            runs = connection.execute(
                "select status, added from reverse_etl.sync_runs order by started_at"
            ).fetchall()
            [(found_at, error)] = connection.execute(
                "select finished_at, error from reverse_etl.sync_runs where status = 'abandoned'"
            ).fetchall()
        assert found_at is not None and error.startswith("abandoned: the process")
        return state, runs

    check_kill_and_resume(
        webhook, desired, lambda: start_sync(config, "--duckdb-path", str(database)), read_state
    )
