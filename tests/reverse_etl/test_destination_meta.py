"""Meta Custom Audiences against a local server that answers like the Graph API."""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from reverse_etl.config import SyncConfig, SyncConfigError, parse_syncs
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import Batch, DestinationError, Record
from reverse_etl.destinations.hashing import sha256_hex
from reverse_etl.destinations.meta import (
    MetaCustomAudienceConfig,
    MetaCustomAudienceDestination,
    meta_keys,
    regain_access_seconds,
)
from reverse_etl.engine import run_sync
from reverse_etl.http import RetriesExhausted
from reverse_etl.warehouse import DuckDBWarehouse
from tests.reverse_etl.support import JsonFake, Received, quiet_client, serving, vip_warehouse

TOKEN = "EAAB-meta-test-token-0123456789"
AUDIENCE = "23850000000000001"
VERSION = "v25.0"
NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)
FIELDS = {
    "email": "email",
    "phone": "phone",
    "first_name": "first_name",
    "last_name": "last_name",
    "city": "city",
    "zip": "zip",
    "country": "country",
}
SCHEMA_KEYS = {"EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "GEN", "DOBY"}
SCHEMA_KEYS |= {"DOBM", "DOBD", "EXTERN_ID", "FI", "MADID"}
PRIMARY = ("EMAIL", "PHONE", "EXTERN_ID")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FakeGraphAPI(JsonFake):
    """`/{version}/{audience_id}/users` as Meta answers it, holding the audience's rows."""

    def __init__(self) -> None:
        super().__init__()
        self.members: dict[int, dict[str, str]] = {}
        self.index: dict[tuple[str, str], int] = {}  # (key, hash) -> member
        self.numbers = itertools.count()
        self.invalid: dict[str, str] = {}  # hash -> reason Meta gives for it
        self.fail_after: int | None = None  # successful requests before a hard outage
        self.successes = 0

    @staticmethod
    def error(message: str, code: int, kind: str = "OAuthException", **extra: Any) -> dict:
        return {"error": {"message": message, "type": kind, "code": code, **extra}}

    def answer(self, request: Received) -> tuple[int, dict[str, str], Any, float]:
        if self.script:
            return self.script.pop(0)
        if self.fail_after is not None and self.successes >= self.fail_after:
            body = self.error("An unexpected error has occurred.", 2, is_transient=True)
            return 500, {}, body, 0.0
        form = request.form
        if form.get("access_token") != TOKEN:
            body = self.error("Invalid OAuth access token - Cannot parse access token", 190)
            return 400, {}, body | {"fbtrace_id": "AbCdEf"}, 0.0
        if request.path != f"/{VERSION}/{AUDIENCE}/users" or request.method not in (
            "POST",
            "DELETE",
        ):
            return 400, {}, self.error("Unsupported request", 100, "GraphMethodException"), 0.0
        try:
            payload = json.loads(form["payload"])
            session = json.loads(form["session"])
        except (KeyError, ValueError):
            return 400, {}, self.error("(#100) Invalid parameter", 100), 0.0
        schema = payload.get("schema")
        rows = payload.get("data")
        if not isinstance(schema, list) or not set(schema) <= SCHEMA_KEYS or not rows:
            return 400, {}, self.error("(#100) Invalid schema", 100), 0.0
        invalid: dict[str, str] = {}
        accepted = []
        for values in rows:
            if len(values) != len(schema):
                return 400, {}, self.error("(#100) Data does not match schema", 100), 0.0
            bad = [v for v in values if v and (not HEX64.match(v) or v in self.invalid)]
            if bad:
                invalid[bad[0]] = self.invalid.get(bad[0], "Invalid format")
                continue
            accepted.append(
                {key: value for key, value in zip(schema, values, strict=True) if value}
            )
        for row in accepted:
            self._apply(request.method, row)
        self.successes += 1
        body = {
            "audience_id": AUDIENCE,
            "session_id": str(session["session_id"]),
            "num_received": len(rows),
            "num_invalid_entries": len(invalid),
            "invalid_entry_samples": invalid,
        }
        return 200, {}, body, 0.0

    def _apply(self, method: str, row: dict[str, str]) -> None:
        keys = [key for key in PRIMARY if key in row] or list(row)
        for key in keys:
            member = self.index.get((key, row[key]))
            if member is not None and member in self.members:
                for item in self.members.pop(member).items():
                    self.index.pop(item, None)
        if method == "POST":
            number = next(self.numbers)
            self.members[number] = row
            self.index.update((item, number) for item in row.items())

    def email_hashes(self) -> set[str]:
        return {member["EMAIL"] for member in self.members.values() if "EMAIL" in member}

    def applied(self, method: str) -> list[dict[str, str]]:
        """Rows of the requests the server accepted, in order."""
        rows = []
        for request in self.received:
            if request.method == method and request.status == 200:
                payload = json.loads(request.form["payload"])
                for values in payload["data"]:
                    if all(not v or (HEX64.match(v) and v not in self.invalid) for v in values):
                        rows.append(dict(zip(payload["schema"], values, strict=True)))
        return rows


@pytest.fixture
def graph(monkeypatch) -> Iterator[FakeGraphAPI]:
    monkeypatch.setenv("META_TOKEN", TOKEN)
    with serving(FakeGraphAPI()) as fake:
        yield fake


_client = quiet_client


def _options(graph: FakeGraphAPI, **overrides: Any) -> dict[str, Any]:
    options = {
        "audience_id": AUDIENCE,
        "access_token_env": "META_TOKEN",
        "api_version": VERSION,
        "base_url": graph.base_url,
    }
    return options | overrides


def _destination(graph, sleeps=None, client_options=None, **overrides):
    config = MetaCustomAudienceConfig(**_options(graph, **overrides))
    client = _client(sleeps if sleeps is not None else [], **(client_options or {}))
    return MetaCustomAudienceDestination(config, client=client)


def _person(number: int) -> dict[str, Any]:
    return {
        "email": f"Person{number}@Example.com",
        "phone": f"+31 6 {10000000 + number}",
        "first_name": f"First{number}",
        "last_name": f"Last{number}",
        "city": "Amsterdam",
        "zip": "1017 CE",
        "country": "NL",
    }


def _batch(operation: str, numbers, destination_ids=None) -> Batch:
    records = []
    for number in numbers:
        payload = None if operation in ("remove", "erase") else _person(number)
        destination_id = (destination_ids or {}).get(f"c{number:03d}")
        records.append(Record(operation, f"c{number:03d}", payload, "h", destination_id))
    return Batch("vip_meta", operation, records)


# Configuration --------------------------------------------------------------------------


def test_an_invalid_option_fails_at_load_naming_the_sync_and_the_field():
    document = {
        "syncs": [
            {
                "name": "vip_meta",
                "source": "segments.seg_vip",
                "fields": {"email": "email"},
                "destination": {
                    "type": "meta_custom_audience",
                    "options": {
                        "audience_id": AUDIENCE,
                        "access_token_env": "META_TOKEN",
                        "max_batch_size": 20_000,
                    },
                },
            }
        ]
    }
    with pytest.raises(SyncConfigError, match=r"sync 'vip_meta'.*max_batch_size"):
        parse_syncs(document)
    document["syncs"][0]["destination"]["options"] = {
        "audience_id": AUDIENCE,
        "access_token_env": "META_TOKEN",
        "acces_token": TOKEN,
    }
    with pytest.raises(SyncConfigError, match=r"sync 'vip_meta'.*acces_token"):
        parse_syncs(document)


def test_defaults_follow_the_documented_limits(graph):
    destination = build_destination(
        SyncConfig(
            name="vip_meta",
            source="segments.seg_vip",
            fields={"email": "email"},
            destination={"type": "meta_custom_audience", "options": _options(graph)},
        )
    )
    assert destination.max_batch_size == 10_000
    assert MetaCustomAudienceConfig(**_options(graph)).api_version == VERSION
    assert MetaCustomAudienceConfig(audience_id="1", access_token_env="X").base_url == (
        "https://graph.facebook.com"
    )


# Request shapes -------------------------------------------------------------------------


def test_an_addition_posts_a_multi_key_schema_of_hashes(graph):
    result = _destination(graph).send(_batch("add", [1, 2]))

    (request,) = graph.received
    assert request.method == "POST"
    assert request.path == f"/{VERSION}/{AUDIENCE}/users"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = request.form
    assert set(form) == {"payload", "session", "access_token"}
    assert form["access_token"] == TOKEN
    payload = json.loads(form["payload"])
    assert payload["schema"] == ["EMAIL", "PHONE", "FN", "LN", "CT", "ZIP", "COUNTRY"]
    assert payload["data"][0] == [
        sha256_hex("person1@example.com"),
        sha256_hex("31610000001"),
        sha256_hex("first"),
        sha256_hex("last"),
        sha256_hex("amsterdam"),
        sha256_hex("1017ce"),
        sha256_hex("nl"),
    ]
    session = json.loads(form["session"])
    assert session["batch_seq"] == 1
    assert session["last_batch_flag"] is True
    assert session["estimated_num_total"] == 2
    assert isinstance(session["session_id"], int)
    assert result.requests == 1
    assert set(result.acknowledged) == {"c001", "c002"}
    stored = json.loads(result.acknowledged["c001"])
    assert stored == meta_keys(_person(1))
    assert result.acknowledged["c001"] == json.dumps(stored, sort_keys=True, separators=(",", ":"))
    assert graph.email_hashes() == {
        sha256_hex("person1@example.com"),
        sha256_hex("person2@example.com"),
    }


@pytest.mark.parametrize("operation", ["remove", "erase"])
def test_removal_and_erasure_delete_the_stored_hashes(graph, operation):
    destination = _destination(graph)
    added = destination.send(_batch("add", [1, 2, 3]))

    result = destination.send(_batch(operation, [1, 3], added.acknowledged))

    request = graph.received[-1]
    assert request.method == "DELETE"
    assert request.path == f"/{VERSION}/{AUDIENCE}/users"
    rows = [
        dict(zip(json.loads(request.form["payload"])["schema"], v, strict=True))
        for v in json.loads(request.form["payload"])["data"]
    ]
    assert rows[0] == json.loads(added.acknowledged["c001"])
    assert set(result.acknowledged) == {"c001", "c003"}
    assert graph.email_hashes() == {sha256_hex("person2@example.com")}
    assert len(graph.received) == 2, "Meta has no separate deletion API for audiences"


def test_a_removal_without_stored_hashes_is_rejected_without_a_request(graph):
    result = _destination(graph).send(_batch("remove", [5]))
    assert result.rejected == {"c005": "no stored identifier hashes to remove"}
    assert graph.received == []


def test_a_change_of_email_removes_the_old_hash_before_adding_the_new_one(graph):
    destination = _destination(graph)
    added = destination.send(_batch("add", [1, 2]))
    moved = _person(1) | {"email": "new.address@example.com"}
    renamed = _person(2) | {"city": "Utrecht"}
    batch = Batch(
        "vip_meta",
        "change",
        [
            Record("change", "c001", moved, "h2", added.acknowledged["c001"]),
            Record("change", "c002", renamed, "h2", added.acknowledged["c002"]),
        ],
    )

    result = destination.send(batch)

    delete, post = graph.received[-2:]
    assert (delete.method, post.method) == ("DELETE", "POST")
    payload = json.loads(delete.form["payload"])
    assert payload == {"schema": ["EMAIL"], "data": [[sha256_hex("person1@example.com")]]}
    assert len(json.loads(post.form["payload"])["data"]) == 2
    assert result.requests == 2
    assert json.loads(result.acknowledged["c001"])["EMAIL"] == sha256_hex("new.address@example.com")
    assert graph.email_hashes() == {
        sha256_hex("new.address@example.com"),
        sha256_hex("person2@example.com"),
    }


def test_a_record_without_a_matchable_key_is_rejected_locally(graph):
    batch = Batch(
        "vip_meta",
        "add",
        [
            Record("add", "c001", {"email": "not an email", "city": "Paris"}, "h"),
            Record("add", "c002", {"first_name": "Ann", "last_name": "Lee"}, "h"),
        ],
    )
    result = _destination(graph).send(batch)
    assert "no usable identifier" in result.rejected["c001"]
    assert set(result.acknowledged) == {"c002"}
    assert json.loads(graph.received[0].form["payload"])["schema"] == ["FN", "LN"]


def test_invalid_entries_become_rejections_with_metas_reason(graph):
    graph.invalid[sha256_hex("person2@example.com")] = "Invalid hash format for EMAIL"

    result = _destination(graph).send(_batch("add", [1, 2, 3]))

    assert result.rejected == {"c002": "Meta rejected the entry: Invalid hash format for EMAIL"}
    assert set(result.acknowledged) == {"c001", "c003"}


# Failures ---------------------------------------------------------------------------------


def test_a_429_waits_the_retry_after(graph):
    graph.respond(429, {"error": {"message": "Too many calls", "code": 4}}, {"Retry-After": "7"})
    sleeps: list[float] = []

    result = _destination(graph, sleeps).send(_batch("add", [1]))

    assert sleeps == [7.0]
    assert result.requests == 2
    assert set(result.acknowledged) == {"c001"}


def test_graph_throttling_codes_are_retried_after_the_time_to_regain_access(graph):
    usage = {
        "1234": [
            {"type": "custom_audience", "call_count": 100, "estimated_time_to_regain_access": 2}
        ]
    }
    graph.respond(
        400,
        FakeGraphAPI.error("There have been too many calls to this ad-account.", 80003),
        {"X-Business-Use-Case-Usage": json.dumps(usage)},
    )
    graph.respond(
        400, FakeGraphAPI.error("(#17) User request limit reached", 17, error_subcode=2446079)
    )
    sleeps: list[float] = []

    result = _destination(graph, sleeps).send(_batch("add", [1]))

    assert sleeps == [120.0, 1.0]  # two minutes from the header, then the client's backoff
    assert set(result.acknowledged) == {"c001"}
    assert regain_access_seconds(json.dumps(usage)) == 120
    assert regain_access_seconds("not json") is None


def test_a_burst_of_5xx_is_retried_with_backoff(graph):
    for _ in range(3):
        graph.respond(
            500, FakeGraphAPI.error("An unexpected error has occurred.", 2, is_transient=True)
        )
    sleeps: list[float] = []

    result = _destination(graph, sleeps).send(_batch("add", [1, 2]))

    assert sleeps == [0.5, 1.0, 2.0]
    assert result.requests == 4
    assert len(graph.members) == 2


def test_a_timeout_is_retried(graph):
    graph.respond(200, {"num_received": 1}, delay=1.0)
    sleeps: list[float] = []

    result = _destination(graph, sleeps, client_options={"timeout": 0.2}).send(_batch("add", [1]))

    assert len(sleeps) == 1
    assert result.requests == 2
    assert set(result.acknowledged) == {"c001"}


def test_an_invalid_token_refuses_the_batch_without_leaking_it(graph, monkeypatch):
    monkeypatch.setenv("META_TOKEN", "wrong-" + TOKEN)
    graph.respond(
        400,
        FakeGraphAPI.error(f"Invalid OAuth access token: wrong-{TOKEN}", 190, fbtrace_id="AbC"),
    )

    with pytest.raises(DestinationError) as raised:
        _destination(graph).send(_batch("add", [1]))

    message = str(raised.value)
    assert "code 190" in message
    assert "invalid or expired access token" in message
    assert "fbtrace_id AbC" in message
    assert TOKEN not in message


def test_persistent_throttling_gives_up_after_max_attempts(graph):
    for _ in range(3):
        graph.respond(400, FakeGraphAPI.error("Application request limit reached", 4))

    with pytest.raises(RetriesExhausted, match="after 3 attempts: HTTP 429"):
        _destination(graph, max_attempts=3, client_options={"max_attempts": 3}).send(
            _batch("add", [1])
        )


# Through the engine -----------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    opened = vip_warehouse(tmp_path, 47)
    yield opened
    opened.close()


def _sync(graph: FakeGraphAPI, **overrides: Any) -> SyncConfig:
    settings = {
        "name": "vip_meta",
        "source": "segments.seg_vip",
        "fields": FIELDS,
        "destination": {"type": "meta_custom_audience", "options": _options(graph)},
        "secret_env": ["META_TOKEN"],
    }
    return SyncConfig(**(settings | overrides))


def _desired_email_hashes(warehouse: DuckDBWarehouse) -> set[str]:
    rows = warehouse.fetchall(
        """
        select s.email from segments.seg_vip as s
        inner join core.customers as c using (customer_id)
        where s.has_consent and not s.is_holdout and not c.is_erased
        """
    )
    return {sha256_hex(row[0].lower()) for row in rows}


def _raw_values(warehouse: DuckDBWarehouse) -> set[str]:
    values: set[str] = set()
    for row in warehouse.fetchall(
        "select email, phone, first_name, last_name, city, zip from segments.seg_vip"
    ):
        email, phone, first_name, last_name, city, zip_code = row
        values |= {email, email.lower(), phone, re.sub(r"\D", "", phone), first_name}
        values |= {first_name.lower(), last_name, last_name.lower(), city, zip_code}
    return values


def _assert_only_hashes_left(graph: FakeGraphAPI, raw_values: set[str]) -> None:
    assert graph.received
    for request in graph.received:
        texts = [request.path, unquote_plus(request.path), json.dumps(request.headers)]
        texts += [request.body.decode(), unquote_plus(request.body.decode())]
        for text in texts:
            for value in raw_values:
                assert value not in text, f"raw {value!r} sent in a {request.method}"


@pytest.mark.parametrize(("batch_size", "members"), [(1, 47), (10, 47), (23, 47), (10_000, 14_700)])
def test_batches_need_exactly_the_minimum_number_of_requests(graph, tmp_path, batch_size, members):
    warehouse = vip_warehouse(tmp_path, members)
    sync = _sync(graph, batch_size=batch_size)
    desired = len(_desired_email_hashes(warehouse))

    result = run_sync(sync, warehouse, _destination(graph))

    assert result.added == desired
    assert len(graph.received) == result.requests == -(-desired // batch_size)
    assert max(len(json.loads(r.form["payload"])["data"]) for r in graph.received) <= batch_size
    assert graph.email_hashes() == _desired_email_hashes(warehouse)
    warehouse.close()


def test_holdouts_and_members_without_consent_are_never_sent_and_only_hashes_leave(
    graph, warehouse
):
    run_sync(_sync(graph), warehouse, _destination(graph))

    sent = {row["EMAIL"] for row in graph.applied("POST")}
    excluded = warehouse.fetchall(
        "select email from segments.seg_vip where is_holdout or not has_consent"
    )
    assert excluded
    assert not sent & {sha256_hex(row[0].lower()) for row in excluded}
    assert graph.email_hashes() == _desired_email_hashes(warehouse)
    _assert_only_hashes_left(graph, _raw_values(warehouse))


def test_changes_removals_consent_withdrawal_and_erasure_converge(graph, warehouse):
    destination = _destination(graph)
    run_sync(_sync(graph), warehouse, destination)
    raw = _raw_values(warehouse) | {"moved@example.com"}
    warehouse.execute(
        "update segments.seg_vip set email = 'moved@example.com' where customer_id = 'c000'"
    )
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c002'")
    warehouse.execute("update core.customers set is_erased = true where customer_id = 'c005'")
    before = len(graph.received)

    result = run_sync(_sync(graph), warehouse, destination)

    assert (result.changed, result.removed) == (1, 3)
    assert graph.email_hashes() == _desired_email_hashes(warehouse)
    assert sha256_hex("person0@example.com") not in graph.email_hashes()
    deleted = {row.get("EMAIL") for row in graph.applied("DELETE")}
    assert {sha256_hex(f"person{n}@example.com") for n in (0, 1, 2, 5)} <= deleted
    assert {r.method for r in graph.received[before:]} == {"POST", "DELETE"}
    _assert_only_hashes_left(graph, raw)


def test_rejected_entries_are_retried_next_run_then_dead_lettered(graph, warehouse):
    bad = sha256_hex("person0@example.com")
    graph.invalid[bad] = "Invalid hash format"
    sync = _sync(graph, max_rejection_attempts=2)

    runs = [run_sync(sync, warehouse, _destination(graph)) for _ in range(3)]

    assert [run.failed for run in runs] == [1, 1, 0]
    rejection = warehouse.fetchall(
        "select record_key, operation, reason, attempts, is_dead_letter"
        " from reverse_etl.sync_rejections"
    )
    assert rejection == [("c000", "add", "Meta rejected the entry: Invalid hash format", 2, True)]
    attempts = [row for row in graph.applied("POST") if row["EMAIL"] == bad]
    assert attempts == []
    posted = sum(
        bad in request.body.decode() for request in graph.received if request.method == "POST"
    )
    assert posted == 2


def test_secrets_stay_out_of_logs_state_run_log_and_errors(graph, warehouse, caplog):
    graph.respond(
        500, FakeGraphAPI.error(f"upstream echoed access_token={TOKEN}", 1, is_transient=True)
    )
    graph.respond(400, FakeGraphAPI.error(f"Error validating access token {TOKEN}", 190))

    with caplog.at_level(logging.DEBUG), pytest.raises(DestinationError) as raised:
        run_sync(_sync(graph), warehouse, _destination(graph))

    assert TOKEN not in str(raised.value)
    assert caplog.records
    assert TOKEN not in caplog.text
    for table in ("sync_state", "sync_runs", "sync_rejections"):
        assert TOKEN not in repr(warehouse.fetchall(f"select * from reverse_etl.{table}"))
    error = warehouse.fetchall("select error from reverse_etl.sync_runs")[0][0]
    assert "code 190" in error
    assert "***" in error
    for request in graph.received:
        assert TOKEN not in request.path
