"""Secrets and personal data never reach a log: every rendering, every sink.

A destination on 127.0.0.1 fails in the ways real ones do (a 4xx whose body echoes the
Authorization header and the request, 5xx until the retries run out, a connection reset) for a
secret that arrives with a trailing newline and space, as `echo ... > .env` files leave them.
Every sink is scanned for every rendering of the secret and for the people's data: the CLI's
stdout and stderr, `reverse_etl.sync_runs`, `sync_rejections`, and a Dagster run's event log
records, its storage files and its compute logs.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import duckdb
import pytest
import requests
from werkzeug import Request, Response

from cdp import PROJECT_ROOT
from reverse_etl.redaction import (
    REDACTED,
    RedactingFilter,
    SecretError,
    redact,
    resolve_secret,
    scrub_personal_data,
    secret_renderings,
)

STRIPPED = 'SG.k3y/with+odd=chars"and\\é-0123456789abcdef'
RAW = STRIPPED + "\n "  # what `echo $KEY > .env` and a stray space leave behind
ENV = "REDACTION_TEST_SENDGRID_KEY"
LIST_ID = "0f4c3a52-7d1e-4a8b-9c2d-5e6f7a8b9c0d"
PEOPLE = [
    ("c001", "alice.smith@example.com", "Alicia", "Smithers", "+44 20 7946 0958"),
    ("c002", "bob.jones@example.org", "Roberto", "Jonesworth", "+31 6 12345678"),
]
PERSONAL = [value for person in PEOPLE for value in person[1:]]


def leaked_renderings(text: str) -> list[str]:
    """The renderings of the secret (8+ characters) that `text` holds."""
    forms = {form for form in secret_renderings(RAW) if len(form) >= 8}
    forms |= {STRIPPED[:16], repr(RAW)[1:-1]}
    return sorted(form for form in forms if form in text)


def leaked_personal_data(text: str) -> list[str]:
    forms = set(PERSONAL) | {quote(email) for email in PERSONAL if "@" in email}
    forms |= {phone.replace(" ", "") for phone in PERSONAL if phone.startswith("+")}
    return sorted(form for form in forms if form in text)


# -- the redaction function -------------------------------------------------------------------


def test_a_secret_is_stripped_and_one_with_inner_whitespace_is_refused_without_its_value():
    secret = resolve_secret(ENV, environ={ENV: RAW})
    assert secret.reveal() == STRIPPED
    assert STRIPPED not in f"{secret} {secret!r} {secret!s}"

    for bad in ("qx7 9zk-0123456789", "qx7\n9zk-0123456789", "qx7\t9zk-012345", "qx7\x009zk1234"):
        with pytest.raises(SecretError) as raised:
            resolve_secret("BAD_SECRET_VARIABLE", environ={"BAD_SECRET_VARIABLE": bad})
        assert "BAD_SECRET_VARIABLE" in str(raised.value)
        assert "qx7" not in str(raised.value) and "9zk" not in str(raised.value)
    with pytest.raises(SecretError, match="UNSET_SECRET_VARIABLE is not set"):
        resolve_secret("UNSET_SECRET_VARIABLE", environ={"UNSET_SECRET_VARIABLE": " \n"})


def _renderings() -> dict[str, str]:
    """How libraries and protocols print the secret, each in a message of its own."""
    basic = {
        f"basic auth as {user!r}": base64.b64encode(f"{user}:{STRIPPED}".encode()).decode()
        for user in ("u", "ab", "api", "apikey", "someone@example.com")
    }
    try:
        requests.Request("GET", "http://127.0.0.1:9/", headers={"Authorization": RAW}).prepare()
        invalid_header = ""
    except requests.RequestException as error:
        invalid_header = str(error)
    try:  # a closed port: the URL (with the key as a query parameter) is in the message
        requests.get("http://127.0.0.1:9/v3", params={"api_key": STRIPPED}, timeout=1)
        connection_error = ""
    except requests.RequestException as error:
        connection_error = str(error)
    return {
        "raw": RAW,
        "stripped": STRIPPED,
        "repr": repr(RAW),
        "repr of repr": repr(repr(RAW)),
        "json": json.dumps({"key": RAW}),
        "json in json": json.dumps(json.dumps({"key": RAW})),
        "percent-encoded": quote(STRIPPED, safe=""),
        "percent-encoded, lower-case hex": quote(STRIPPED, safe="").lower(),
        "form-encoded": quote_plus(RAW),
        "bearer header": f"Authorization: Bearer {STRIPPED}",
        "dict of headers": repr({"Authorization": f"Bearer {RAW}"}),
        "requests InvalidHeader": invalid_header,
        "requests ConnectionError": connection_error,
        **basic,
    }


@pytest.mark.parametrize("form", sorted(_renderings()))
def test_every_rendering_of_a_known_secret_is_redacted(form):
    resolve_secret(ENV, environ={ENV: RAW})
    text = _renderings()[form]
    assert text, f"could not produce the {form} rendering"

    cleaned = redact(f"401 Unauthorized: {text} (request id 42)")

    assert STRIPPED[:12] not in cleaned
    assert leaked_renderings(cleaned) == []
    if form.startswith("basic auth"):
        assert text not in cleaned
    assert "(request id 42)" in cleaned


def test_personal_data_is_replaced_and_ordinary_numbers_are_kept():
    text = (
        "contact alice.smith@example.com (alice.smith%40example.com) phone +44 20 7946 0958,"
        " 0612345678 or (555) 123-4567, first name Alicia, at 2025-06-30 10:00:00,"
        " run 3 of 12, 1234567 rows, auc 0.8123456789, id c000123456, HTTP 400"
    )
    cleaned = scrub_personal_data(text, values=[{"first_name": "Alicia", "nested": ["x"]}])
    assert leaked_personal_data(cleaned) == []
    for kept in ("2025-06-30 10:00:00", "run 3 of 12", "1234567 rows", "0.8123456789"):
        assert kept in cleaned
    assert "c000123456" in cleaned and "HTTP 400" in cleaned
    assert cleaned.count(REDACTED) == 6


def test_the_logging_filter_redacts_messages_arguments_and_tracebacks():
    resolve_secret(ENV, environ={ENV: RAW})
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "key %r for %s", (RAW, "a@b.io"), None
    )
    try:
        raise RuntimeError(f"Bearer {RAW}")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert leaked_renderings(text) == [] and "a@b.io" not in text
    assert "RuntimeError" in text


def test_the_http_client_turns_a_refused_header_into_a_redacted_error():
    from reverse_etl.http import HttpClient, RequestFailed

    client = HttpClient(max_attempts=1)
    with pytest.raises(RequestFailed, match="header Authorization") as raised:  # not resolved
        client.request("GET", "http://127.0.0.1:9/", headers={"Authorization": f"Bearer {RAW}"})
    text = str(raised.value) + repr(raised.value.__context__) + repr(raised.value.__cause__)
    assert leaked_renderings(text) == []


# -- a destination that fails, and every sink --------------------------------------------------


class FailingVendor:
    """A SendGrid-like API on 127.0.0.1 that fails in the mode set by the test."""

    def __init__(self, httpserver) -> None:
        self.httpserver = httpserver
        self.mode = "echo"
        httpserver.expect_request("/v3/marketing/contacts", method="PUT").respond_with_handler(
            self._handle
        )

    def _handle(self, request: Request) -> Response:
        if self.mode == "echo":  # a 4xx whose message quotes the key and the request
            body = {
                "errors": [
                    {
                        "field": None,
                        "message": f"invalid key {request.headers.get('Authorization')} for"
                        f" {request.get_data(as_text=True)}",
                    }
                ],
                "request": json.loads(request.get_data()),
            }
            return Response(json.dumps(body), status=401, content_type="application/json")
        body = f"upstream failure for {request.headers.get('Authorization')}"
        return Response(body, status=503)


@pytest.fixture
def resetting_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose server resets every connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            connection.recv(65536)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def _warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            "create table segments.seg_vip (customer_id varchar, is_holdout boolean,"
            " has_consent boolean, email varchar, first_name varchar, last_name varchar,"
            " phone varchar)"
        )
        connection.executemany(
            "insert into segments.seg_vip values (?, false, true, ?, ?, ?, ?)", PEOPLE
        )
    return path


def _sync_document(base_url: str) -> dict:
    return {
        "name": "vip_to_sendgrid",
        "source": "segments.seg_vip",
        "fields": {
            "email": "email",
            "first_name": "first_name",
            "last_name": "last_name",
            "phone_number": "phone",
        },
        "secret_env": [ENV],
        "erasure_relation": None,
        "destination": {
            "type": "sendgrid",
            "options": {
                "list_id": LIST_ID,
                "api_key_env": ENV,
                "base_url": base_url,
                "max_attempts": 2,
                "timeout_seconds": 5,
            },
        },
    }


def _run_log(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute("select * from reverse_etl.sync_runs").fetchall()
        rows += connection.execute("select * from reverse_etl.sync_rejections").fetchall()
    return repr(rows) + " ".join(str(value) for row in rows for value in row)


def _failure_urls(httpserver, resetting_port) -> dict[str, tuple[str, str]]:
    return {
        "4xx echoing the key and the request": (httpserver.url_for("/"), "echo"),
        "5xx until the retries run out": (httpserver.url_for("/"), "unavailable"),
        "connection reset": (f"http://127.0.0.1:{resetting_port}", "echo"),
    }


@pytest.mark.parametrize(
    "failure",
    ["4xx echoing the key and the request", "5xx until the retries run out", "connection reset"],
)
def test_the_cli_and_the_run_log_never_hold_the_secret_or_the_people(
    failure, httpserver, resetting_port, tmp_path
):
    base_url, mode = _failure_urls(httpserver, resetting_port)[failure]
    FailingVendor(httpserver).mode = mode
    warehouse = _warehouse(tmp_path / "warehouse.duckdb")
    config = tmp_path / "syncs.yml"
    config.write_text(json.dumps({"syncs": [_sync_document(base_url)]}))

    completed = subprocess.run(
        [sys.executable, "-m", "reverse_etl", str(config), "--duckdb-path", str(warehouse)],
        env={**os.environ, ENV: RAW},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )

    assert completed.returncode == 1, completed.stderr
    assert "vip_to_sendgrid: failed" in completed.stderr
    printed = completed.stdout + completed.stderr
    recorded = _run_log(warehouse)
    assert "failed" in recorded
    for sink, text in (("the CLI's output", printed), ("the run log", recorded)):
        assert leaked_renderings(text) == [], f"{failure}: the secret reached {sink}"
        assert leaked_personal_data(text) == [], f"{failure}: personal data reached {sink}"
    if mode == "echo" and "reset" not in failure:
        assert "HTTP 401" in recorded  # the reason is kept


@pytest.mark.parametrize(
    "failure",
    ["4xx echoing the key and the request", "5xx until the retries run out", "connection reset"],
)
def test_a_dagster_run_never_holds_the_secret_or_the_people(
    failure, httpserver, resetting_port, tmp_path, monkeypatch
):
    from dagster import instance_for_test, materialize
    from dagster._serdes import serialize_value

    import cdp.activation
    from orchestration.syncs import sync_asset
    from reverse_etl.config import parse_syncs

    base_url, mode = _failure_urls(httpserver, resetting_port)[failure]
    FailingVendor(httpserver).mode = mode
    warehouse = _warehouse(tmp_path / "warehouse.duckdb")
    [sync] = parse_syncs({"syncs": [_sync_document(base_url)]})
    monkeypatch.setattr(cdp.activation, "project_syncs", lambda *args, **kwargs: [sync])
    monkeypatch.setenv(ENV, RAW)
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(warehouse))
    asset = sync_asset(sync)

    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        result = materialize([asset], instance=instance, raise_on_error=False)
        records = instance.all_logs(result.run_id)
    assert not result.success

    event_log = "\n".join(serialize_value(record) for record in records)
    failures = [r for r in records if r.dagster_event and r.dagster_event.is_step_failure]
    assert failures and "vip_to_sendgrid failed" in event_log
    stored = "\n".join(
        path.read_bytes().decode("utf-8", "replace")
        for path in (tmp_path / "dagster").rglob("*")
        if path.is_file()
    )
    assert "compute_logs" in " ".join(str(p) for p in (tmp_path / "dagster").rglob("*"))
    for sink, text in (
        ("the event log", event_log),
        ("Dagster's storage and compute logs", stored),
    ):
        assert leaked_renderings(text) == [], f"{failure}: the secret reached {sink}"
        assert leaked_personal_data(text) == [], f"{failure}: personal data reached {sink}"


def test_a_4xx_echoing_the_request_keeps_the_reason_and_no_personal_data(httpserver, tmp_path):
    """With a clean secret, so only the echoed request is at stake."""
    from reverse_etl.config import parse_syncs
    from reverse_etl.destinations import build_destination
    from reverse_etl.engine import run_sync
    from reverse_etl.warehouse import DuckDBWarehouse

    FailingVendor(httpserver).mode = "echo"
    path = _warehouse(tmp_path / "warehouse.duckdb")
    [sync] = parse_syncs({"syncs": [_sync_document(httpserver.url_for("/"))]})
    os.environ[ENV] = STRIPPED
    try:
        warehouse = DuckDBWarehouse.connect(path)
        with pytest.raises(Exception) as raised:
            run_sync(sync, warehouse, build_destination(sync))
        warehouse.close()
    finally:
        del os.environ[ENV]
    recorded = _run_log(path)
    assert "SendGrid contact upsert answered HTTP 401: invalid key" in recorded
    assert leaked_personal_data(recorded) == []
    assert leaked_personal_data(getattr(raised.value, "sync_error", "")) == []
