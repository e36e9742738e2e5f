"""The conformance suite: every destination, through the engine, against its fake server.

Each destination (file, webhook, klaviyo, sendgrid, hubspot, meta_custom_audience,
google_ads_customer_match) is a `Target`: how to point a sync at its fake, and how to read
back who the destination holds. The same tests then run against all of them:

- steps: members leave, join, withdraw or give consent, are erased, change email, become
  holdouts; after the next run the destination holds exactly the desired members, and a run
  after that has nothing to do;
- batch size x outage: the connection drops after some requests (the file destination's disk
  fails after some batches); the run fails, what was acknowledged stays committed, and the
  next run converges without sending an acknowledged record again;
- kill and resume: the process dies (BaseException) after an acknowledged batch; the next run
  resumes exactly;
- retries (HTTP destinations): a 429 waits its `Retry-After`, a burst of 5xx backs off, a
  timeout is retried; each answered before the request reaches the fake;
- secrets: a missing one fails naming its variable before anything is sent; none reaches
  the state, the run log or a log line.

Payload and endpoint cases of each vendor stay in its own test file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug.wrappers import Request, Response

from reverse_etl.config import SyncConfig
from reverse_etl.destinations import Destination, DestinationError, build_destination
from reverse_etl.destinations.hashing import sha256_hex
from reverse_etl.engine import run_sync
from reverse_etl.http import RetriesExhausted
from reverse_etl.results import Batch, BatchResult
from reverse_etl.warehouse import DuckDBWarehouse
from tests.reverse_etl import test_destination_google_ads as google
from tests.reverse_etl import test_destination_hubspot as hubspot
from tests.reverse_etl import test_destination_klaviyo as klaviyo
from tests.reverse_etl import test_destination_meta as meta
from tests.reverse_etl import test_destination_sendgrid as sendgrid
from tests.reverse_etl.support import desired_rows, serve, serving, vip_warehouse

FIELDS = {"email": "email", "first_name": "first_name", "last_name": "last_name"}
FAST = 1000.0  # requests per second: the fakes need no rate limit
HOOK_SECRET = "whsec_conformance_0123456789abcdef"


class Outage(Exception):
    """The file destination's disk failing (the HTTP ones lose their connection instead)."""


class Killed(BaseException):
    """The process dies: nothing after it runs, not even the engine's error handling."""


@dataclass
class Target:
    """One destination behind its fake server, as the suite drives it."""

    kind: str
    options: dict[str, Any]
    secret_env: dict[str, str]  # variable -> value, set for the destination to resolve
    held: Callable[[], set[str]]  # who the destination holds, as `identity` spells them
    identity: Callable[[str, str], str]  # (record key, email) -> how the destination knows them
    warehouse_path: Path | None = None
    secrets: list[str] = field(default_factory=list)

    def sync(self, **overrides: Any) -> SyncConfig:
        settings = {
            "name": "vip_conformance",
            "source": "segments.seg_vip",
            "fields": FIELDS,
            "batch_size": 10,
            "secret_env": list(self.secret_env),
            "destination": {"type": self.kind, "options": self.options},
        }
        return SyncConfig(**(settings | overrides))

    def expected(self, warehouse: DuckDBWarehouse) -> set[str]:
        return {self.identity(key, email) for key, email in desired_rows(warehouse).items()}

    def build(self, sync: SyncConfig, *, outage_after: int | None = None) -> Destination:
        """The destination as the engine's callers build it (credentials resolved once), with
        an outage after `outage_after` requests (batches, for the file destination)."""
        destination = build_destination(sync, self.warehouse_path)
        client = getattr(destination, "client", None)
        if client is not None:
            client._sleep = lambda seconds: None
            client.max_attempts = 1 if outage_after is not None else 3
            if outage_after is not None:
                dropping = _DroppingAdapter(outage_after)
                client.session.mount("http://", dropping)
        elif outage_after is not None:
            _fail_after_batches(destination, outage_after)
        return destination


class _DroppingAdapter(requests.adapters.HTTPAdapter):
    """Serves `limit` requests, then every request fails as a dropped connection."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.remaining = limit

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.remaining <= 0:
            raise requests.ConnectionError("connection reset by peer")
        self.remaining -= 1
        return super().send(request, **kwargs)


class _ScriptedAdapter(requests.adapters.HTTPAdapter):
    """Answers the first requests itself (a status with headers, or a timeout), then lets
    every request through to the fake; counts those."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.passed = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if not self.answers:
            self.passed += 1
            return super().send(request, **kwargs)
        answer = self.answers.pop(0)
        if answer == "timeout":
            raise requests.ReadTimeout("read timed out")
        status, headers = answer
        response = requests.Response()
        response.status_code = status
        response.headers.update(headers)
        response._content = b""
        response.url = request.url or ""
        response.request = request
        return response


def _fail_after_batches(destination: Destination, batches: int) -> None:
    send = destination.send
    calls = {"count": 0}

    def failing(batch: Batch) -> BatchResult:
        if calls["count"] >= batches:
            raise Outage("disk failed")
        calls["count"] += 1
        return send(batch)

    destination.send = failing  # type: ignore[method-assign]


def _record_sends(destination: Destination) -> tuple[list[tuple[str, str]], set[str]]:
    """Wrap `send`: (operation, key) of every record sent, and every key acknowledged."""
    sent: list[tuple[str, str]] = []
    acknowledged: set[str] = set()
    send = destination.send

    def recording(batch: Batch) -> BatchResult:
        sent.extend((batch.operation, record.record_key) for record in batch.records)
        result = send(batch)
        acknowledged.update(result.acknowledged)
        return result

    destination.send = recording  # type: ignore[method-assign]
    return sent, acknowledged


# -- the targets ------------------------------------------------------------------------------


def _lower(key: str, email: str) -> str:
    return email.strip().lower()


def _hashed(key: str, email: str) -> str:
    return sha256_hex(email.strip().lower())


def _key(key: str, email: str) -> str:
    return key


class FakeWebhook:
    """A receiver that checks each POST's signature and applies its records to a member set."""

    def __init__(self) -> None:
        self.members: dict[str, Any] = {}
        self.bad_signatures = 0

    def handle(self, request: Request) -> Response:
        body = request.get_data()
        expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        if request.headers.get("X-Signature") != expected:
            self.bad_signatures += 1
            return Response("bad signature", status=401)
        document = json.loads(body)
        for record in document["records"]:
            if document["operation"] in ("remove", "erase"):
                self.members.pop(record["key"], None)
            else:
                self.members[record["key"]] = record["payload"]
        return Response("{}", status=200, content_type="application/json")


def _file_members(root: Path) -> set[str]:
    """Who the sync's files hold: every file replayed in the order it was written."""
    members: set[str] = set()
    for path in sorted((root / "out" / "vip_conformance").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            entry = json.loads(line)
            if entry["operation"] in ("remove", "erase"):
                members.discard(entry["record_key"])
            else:
                members.add(entry["record_key"])
    return members


TARGETS = ["file", "webhook", "klaviyo", "sendgrid", "hubspot", "meta", "google_ads"]


@contextlib.contextmanager
def _target(kind: str, server: HTTPServer, tmp_path: Path) -> Iterator[Target]:
    if kind == "file":
        root = tmp_path / "activation"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CDP_ACTIVATION_DIR", str(root))
            yield Target(
                "file",
                {"directory": "out"},
                {},
                lambda: _file_members(root),
                _key,
                warehouse_path=tmp_path / "warehouse.duckdb",
            )
    elif kind == "webhook":
        hook = FakeWebhook()
        url = serve(server, hook.handle)
        yield Target(
            "webhook",
            {"url": f"{url}/hook", "secret_env": "CONFORMANCE_HOOK_SECRET"},
            {"CONFORMANCE_HOOK_SECRET": HOOK_SECRET},
            lambda: set(hook.members),
            _key,
            secrets=[HOOK_SECRET],
        )
        assert hook.bad_signatures == 0
    elif kind == "klaviyo":
        fake = klaviyo.FakeKlaviyo()
        url = serve(server, fake.handle)
        yield Target(
            "klaviyo",
            {
                "list_id": klaviyo.LIST_ID,
                "base_url": url,
                "poll_interval_seconds": 0.01,
                "rate_limit_per_second": FAST,
                "deletion_rate_limit_per_second": FAST,
            },
            {"KLAVIYO_API_KEY": klaviyo.API_KEY},
            fake.member_external_ids,
            _key,
            secrets=[klaviyo.API_KEY],
        )
        assert fake.violations == [], "requests or answers outside Klaviyo's OpenAPI files"
    elif kind == "sendgrid":
        fake = sendgrid.FakeSendGrid()
        url = serve(server, fake.handle)
        yield Target(
            "sendgrid",
            {
                "list_id": sendgrid.LIST_ID,
                "base_url": url,
                "poll_interval_seconds": 0.01,
                "rate_limit_per_second": FAST,
            },
            {"SENDGRID_API_KEY": sendgrid.API_KEY},
            fake.members,
            _lower,
            secrets=[sendgrid.API_KEY],
        )
        assert fake.violations == [], "requests or answers outside SendGrid's OpenAPI files"
    elif kind == "hubspot":
        fake = hubspot.FakeHubSpot()
        with hubspot._serving(fake) as url:
            yield Target(
                "hubspot",
                {
                    "list_id": hubspot.LIST_ID,
                    "access_token_env": hubspot.TOKEN_ENV,
                    "base_url": url,
                    "rate_limit_per_second": FAST,
                },
                {hubspot.TOKEN_ENV: hubspot.TOKEN},
                lambda: {email for email, rid in fake.contacts.items() if rid in fake.members()},
                _lower,
                secrets=[hubspot.TOKEN],
            )
    elif kind == "meta":
        fake = meta.FakeGraphAPI()
        with serving(fake):
            yield Target(
                "meta_custom_audience",
                meta._options(fake),
                {"META_TOKEN": meta.TOKEN},
                fake.email_hashes,
                _hashed,
                secrets=[meta.TOKEN],
            )
    else:
        fake = google.FakeGoogleAds()
        with serving(fake):
            yield Target(
                "google_ads_customer_match",
                google._options(fake, poll_interval_seconds=0),
                {
                    "GOOGLE_ADS_ACCESS_TOKEN": google.ACCESS_TOKEN,
                    "GOOGLE_ADS_DEVELOPER_TOKEN": google.DEVELOPER_TOKEN,
                },
                fake.email_hashes,
                _hashed,
                secrets=[google.ACCESS_TOKEN, google.DEVELOPER_TOKEN],
            )


@contextlib.contextmanager
def _running(kind: str, server: HTTPServer, scratch: Path) -> Iterator[Target]:
    """The target with its credentials in the environment (for the engine's callers to
    resolve), and its fake serving."""
    with _target(kind, server, scratch) as running, pytest.MonkeyPatch.context() as patch:
        for name, value in running.secret_env.items():
            patch.setenv(name, value)
        yield running


@pytest.fixture(params=TARGETS)
def target(request, server, tmp_path) -> Iterator[Target]:
    with _running(request.param, server, tmp_path) as running:
        yield running


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    opened = vip_warehouse(tmp_path, 25)
    yield opened
    opened.close()


def _run(target: Target, warehouse: DuckDBWarehouse, sync: SyncConfig, **build: Any):
    return run_sync(sync, warehouse, target.build(sync, **build))


def _assert_converged(target: Target, warehouse: DuckDBWarehouse, sync: SyncConfig) -> None:
    assert target.held() == target.expected(warehouse)
    again = _run(target, warehouse, sync)
    assert (again.added, again.changed, again.removed, again.failed) == (0, 0, 0, 0)


# -- steps ------------------------------------------------------------------------------------

STEP_KINDS = ["leave", "join", "consent", "withdraw", "erase", "move", "hold"]


def apply_step(warehouse: DuckDBWarehouse, step: str, number: int) -> None:
    """One change of the source: a member leaves, joins, gives or withdraws consent, is
    erased, changes email, or becomes (or stops being) a holdout."""
    key = f"c{number:03d}"
    if step == "leave":
        warehouse.execute("delete from segments.seg_vip where customer_id = ?", [key])
    elif step == "join":
        key = f"c{number + 100:03d}"
        warehouse.execute(
            "insert into segments.seg_vip select ?, false, true, ?, null, ?, 'Person',"
            " 'Paris', '75001', 'FR' where ? not in (select customer_id from segments.seg_vip)",
            [key, f"new{number}@example.com", f"Newcomer {number}", key],
        )
        warehouse.execute(
            "insert into core.customers select ?, false"
            " where ? not in (select customer_id from core.customers)",
            [key, key],
        )
    elif step in ("consent", "withdraw"):
        warehouse.execute(
            "update segments.seg_vip set has_consent = ? where customer_id = ?",
            [step == "consent", key],
        )
    elif step == "erase":
        warehouse.execute("update core.customers set is_erased = true where customer_id = ?", [key])
    elif step == "move":
        warehouse.execute(
            "update segments.seg_vip set email = 'moved.' || email where customer_id = ?", [key]
        )
    else:
        warehouse.execute(
            "update segments.seg_vip set is_holdout = not is_holdout where customer_id = ?", [key]
        )


def test_every_destination_type_is_in_the_suite():
    from reverse_etl.destinations.registry import DESTINATION_TYPES

    renamed = {"meta": "meta_custom_audience", "google_ads": "google_ads_customer_match"}
    assert {renamed.get(kind, kind) for kind in TARGETS} == set(DESTINATION_TYPES)


def test_every_kind_of_step_converges(target, warehouse):
    sync = target.sync()
    first = _run(target, warehouse, sync)
    assert first.status == "success"
    assert target.held() == target.expected(warehouse)
    # c003 is a holdout and c004 has no consent: see vip_warehouse.
    steps = [("leave", 0), ("join", 1), ("consent", 4), ("withdraw", 1), ("erase", 2)]
    steps += [("move", 5), ("hold", 6), ("hold", 3)]
    for step, number in steps:
        apply_step(warehouse, step, number)

    result = _run(target, warehouse, sync)

    assert result.status == "success"
    # Joined c101, consent c004, no longer holdout c003; changed c005; left c000, withdrew
    # c001, erased c002, holdout c006.
    assert (result.added, result.changed, result.removed) == (3, 1, 4)
    _assert_converged(target, warehouse, sync)


@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(STEP_KINDS), st.integers(0, 24)), min_size=1, max_size=6
    ),
    outage=st.integers(0, 4),
    batch_size=st.sampled_from([1, 4, 10]),
)
@pytest.mark.parametrize("kind", TARGETS)
def test_random_changes_and_outages_always_converge(kind, server, steps, outage, batch_size):
    # A fresh fake, warehouse and folder for every example.
    with tempfile.TemporaryDirectory() as scratch, _running(kind, server, Path(scratch)) as target:
        warehouse = vip_warehouse(None, 25)
        try:
            sync = target.sync(batch_size=batch_size)
            run_sync(sync, warehouse, target.build(sync))
            for step, number in steps:
                apply_step(warehouse, step, number)
            with contextlib.suppress(RetriesExhausted, Outage):
                _run(target, warehouse, sync, outage_after=outage)

            _run(target, warehouse, sync)

            _assert_converged(target, warehouse, sync)
        finally:
            warehouse.close()


# -- batch size x outage ----------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 4, 10])
# 17 members: with 10 a batch even a one-request-a-batch destination fails in its second.
@pytest.mark.parametrize("outage_after", [0, 1])
def test_an_outage_loses_and_resends_nothing(target, warehouse, batch_size, outage_after):
    sync = target.sync(batch_size=batch_size)
    failing = target.build(sync, outage_after=outage_after)
    _, acknowledged_before = _record_sends(failing)

    with pytest.raises((RetriesExhausted, Outage)):
        run_sync(sync, warehouse, failing)

    committed = {
        key for (key,) in warehouse.fetchall("select record_key from reverse_etl.sync_state")
    }
    assert committed == acknowledged_before  # every acknowledged batch, and only those
    status = warehouse.fetchall("select status from reverse_etl.sync_runs")
    assert status == [("failed",)]

    resumed = target.build(sync)
    sent_again, _ = _record_sends(resumed)
    result = run_sync(sync, warehouse, resumed)

    assert result.status == "success"
    assert not {key for _, key in sent_again} & committed, "an acknowledged record was resent"
    _assert_converged(target, warehouse, sync)


# -- kill and resume --------------------------------------------------------------------------


@pytest.mark.parametrize("batches_before_kill", [1, 2])
def test_a_process_killed_after_acknowledged_batches_resumes_exactly(
    target, warehouse, batches_before_kill
):
    sync = target.sync(batch_size=4)
    dying = target.build(sync)
    _, acknowledged_before = _record_sends(dying)
    send = dying.send
    calls = {"count": 0}

    def send_then_die(batch: Batch) -> BatchResult:
        if calls["count"] == batches_before_kill:
            raise Killed
        calls["count"] += 1
        return send(batch)

    dying.send = send_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        run_sync(sync, warehouse, dying)

    committed = {
        key for (key,) in warehouse.fetchall("select record_key from reverse_etl.sync_state")
    }
    assert len(committed) == 4 * batches_before_kill
    assert committed == acknowledged_before
    # The killed run is still `running`; the next run resumes from the committed batches.
    resumed = target.build(sync)
    sent_again, _ = _record_sends(resumed)
    result = run_sync(sync, warehouse, resumed)

    assert result.status == "success"
    assert not {key for _, key in sent_again} & committed
    _assert_converged(target, warehouse, sync)


# -- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "waits"),
    [
        pytest.param([(429, {"Retry-After": "7"})], [7.0], id="429"),
        pytest.param([(503, {}), (502, {}), (500, {})], [0.5, 1.0, 2.0], id="5xx"),
        pytest.param(["timeout"], [0.5], id="timeout"),
    ],
)
def test_throttling_server_errors_and_timeouts_are_retried(target, warehouse, answers, waits):
    if target.kind == "file":
        pytest.skip("the file destination sends no requests")
    sync = target.sync()
    destination = target.build(sync)
    client = destination.client  # type: ignore[attr-defined]
    waited: list[float] = []
    client._sleep, client._jitter, client.max_attempts = waited.append, lambda: 1.0, 5
    scripted = _ScriptedAdapter(answers)
    client.session.mount("http://", scripted)

    result = run_sync(sync, warehouse, destination)

    assert result.status == "success"
    assert waited == waits
    assert result.requests == scripted.passed + len(answers)  # each failure retried once
    _assert_converged(target, warehouse, sync)


# -- secrets ----------------------------------------------------------------------------------


def test_a_missing_credential_fails_when_built_naming_its_variable(target, monkeypatch):
    if not target.secret_env:
        pytest.skip("the file destination needs no credential")
    sync = target.sync()
    for name in target.secret_env:
        with monkeypatch.context() as patch:
            patch.delenv(name)
            with pytest.raises(DestinationError, match=name) as raised:
                build_destination(sync, target.warehouse_path)
        for secret in target.secrets:
            assert secret not in str(raised.value)


def test_no_credential_reaches_the_state_the_run_log_or_a_log_line(target, warehouse, caplog):
    sync = target.sync()
    with caplog.at_level(logging.DEBUG):
        _run(target, warehouse, sync)
        apply_step(warehouse, "erase", 0)
        apply_step(warehouse, "move", 1)
        _run(target, warehouse, sync)

    stored = repr(
        [
            warehouse.fetchall(f"select * from reverse_etl.{table}")
            for table in ("sync_state", "sync_runs", "sync_rejections", "sync_recipients")
        ]
    )
    for secret in target.secrets:
        assert secret not in stored
        assert secret not in caplog.text
