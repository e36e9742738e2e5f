"""The HubSpot destination against a local server that answers like HubSpot's CRM API."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reverse_etl.config import SyncConfig, SyncConfigError, parse_syncs
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import Batch, Credentials, DestinationError, Record
from reverse_etl.destinations.hubspot import (
    HubSpotDestination,
    HubSpotDestinationConfig,
    contact_properties,
    error_inputs,
    error_message,
    membership_ids,
    mentions_email,
    normalize_email,
    property_value,
)
from reverse_etl.engine import run_sync
from reverse_etl.http import HttpClient, RetriesExhausted
from reverse_etl.warehouse import DuckDBWarehouse

TOKEN = "pat-na1-11111111-2222-3333-4444-555555555555"
TOKEN_ENV = "HUBSPOT_TEST_TOKEN"
LIST_ID = "42"
NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)
UPSERT = "/crm/v3/objects/contacts/batch/upsert"
GDPR_DELETE = "/crm/v3/objects/contacts/gdpr-delete"
MEMBERSHIPS = f"/crm/v3/lists/{LIST_ID}/memberships"


# -- a fake HubSpot --------------------------------------------------------------------


def _hubspot_error(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": "4a1f3c2e-0000-4000-8000-000000000000",
        "category": category,
    } | extra


class FakeHubSpot:
    """Contacts keyed by email, static lists of record ids, GDPR deletion, and faults.

    `script` answers the next requests (any path) before the fake's own logic; after
    `outage_after` successful requests whose path contains `outage_path`, every such request
    answers 500 (an outage), until `outage_path` is cleared.
    """

    def __init__(self) -> None:
        self.contacts: dict[str, str] = {}  # email -> record id
        self.properties: dict[str, dict[str, str]] = {}  # record id -> properties
        self.lists: dict[str, set[str]] = {LIST_ID: set()}
        self.gdpr_deleted: list[str] = []
        self.invalid_emails: dict[str, str] = {}  # email -> HubSpot's message
        self.invalid_as_400 = False
        self.invalid_400_has_context = True
        self.echo_authorization = False
        self.script: list[tuple[int, dict[str, str], Any, float]] = []
        self.outage_path: str | None = None
        self.outage_after = 0
        self.requests: list[dict[str, Any]] = []
        self._next_id = 1001
        self._lock = threading.Lock()

    # Requests as the test sees them.
    def calls(self, path: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.requests if path is None or r["path"] == path]

    def upserted_keys(self) -> list[str]:
        return [i["objectWriteTraceId"] for r in self.calls(UPSERT) for i in r["body"]["inputs"]]

    def members(self) -> set[str]:
        return set(self.lists[LIST_ID])

    def respond(self, status: int, body: Any = None, headers=None, delay: float = 0.0) -> None:
        self.script.append((status, headers or {}, body if body is not None else {}, delay))

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        with self._lock:
            body = json.loads(raw) if raw else None
            self.requests.append({"method": method, "path": path, "headers": headers, "body": body})
            if self.script:
                return self.script.pop(0)
            if self.outage_path and self.outage_path in path:
                if self.outage_after <= 0:
                    return 500, {}, _hubspot_error("INTERNAL_ERROR", "internal error"), 0.0
                self.outage_after -= 1
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                message = "Authentication credentials not found."
                if self.echo_authorization:
                    message += f" Received: {headers.get('Authorization')}"
                return 401, {}, _hubspot_error("INVALID_AUTHENTICATION", message), 0.0
            if headers.get("Content-Type") != "application/json":
                return 415, {}, _hubspot_error("VALIDATION_ERROR", "unsupported media type"), 0
            status, answer = self._route(method, path, body)
            return status, {}, answer, 0.0

    def _route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "POST" and path == UPSERT:
            return self._upsert(body)
        if method == "POST" and path == GDPR_DELETE:
            return self._gdpr_delete(body)
        if method == "PUT" and path.startswith("/crm/v3/lists/"):
            parts = path.split("/")  # ['', 'crm', 'v3', 'lists', id, 'memberships', action]
            if len(parts) == 7 and parts[5] == "memberships":
                return self._membership(parts[4], parts[6], body)
        return 404, _hubspot_error("OBJECT_NOT_FOUND", f"no route for {method} {path}")

    def _upsert(self, body: Any) -> tuple[int, Any]:
        inputs = body["inputs"]
        if len(inputs) > 100:
            return 400, _hubspot_error("VALIDATION_ERROR", "Batch size exceeds limit of 100")
        results, errors = [], []
        for item in inputs:
            assert item["idProperty"] == "email"
            email = item["id"]
            if email in self.invalid_emails:
                errors.append(
                    {
                        "status": "error",
                        "category": "VALIDATION_ERROR",
                        "message": self.invalid_emails[email],
                        "context": {"objectWriteTraceId": [item["objectWriteTraceId"]]},
                    }
                )
                continue
            created = email not in self.contacts
            if created:
                self.contacts[email] = str(self._next_id)
                self._next_id += 1
            record_id = self.contacts[email]
            self.properties.setdefault(record_id, {}).update(item["properties"])
            results.append(
                {
                    "id": record_id,
                    "new": created,
                    "properties": {"email": email, "hs_object_id": record_id},
                    "objectWriteTraceId": item["objectWriteTraceId"],
                    "createdAt": "2025-07-01T12:00:00Z",
                    "updatedAt": "2025-07-01T12:00:00Z",
                    "archived": False,
                }
            )
        if errors and self.invalid_as_400:
            # Nothing is written when the whole request is refused.
            for result in results:
                if result["new"]:
                    email = result["properties"]["email"]
                    self.properties.pop(self.contacts.pop(email), None)
            details = [
                {"message": e["message"], "code": "INVALID_EMAIL"}
                | ({"context": e["context"]} if self.invalid_400_has_context else {})
                for e in errors
            ]
            return 400, _hubspot_error(
                "VALIDATION_ERROR", "Property values were not valid", errors=details
            )
        answer = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": "2025-07-01T12:00:00Z",
            "completedAt": "2025-07-01T12:00:01Z",
        }
        if errors:
            return 207, answer | {"errors": errors, "numErrors": len(errors)}
        return 200, answer

    def _membership(self, list_id: str, action: str, body: Any) -> tuple[int, Any]:
        if list_id not in self.lists:
            return 404, _hubspot_error("OBJECT_NOT_FOUND", f"List {list_id} does not exist")
        members = self.lists[list_id]
        existing = set(self.contacts.values())
        if action == "add":
            to_add, to_remove = body, []
        elif action == "remove":
            to_add, to_remove = [], body
        elif action == "add-and-remove":
            to_add, to_remove = body["recordIdsToAdd"], body["recordIdsToRemove"]
        else:
            return 404, _hubspot_error("OBJECT_NOT_FOUND", f"unknown action {action}")
        added = [i for i in to_add if i in existing and i not in members]
        removed = [i for i in to_remove if i in members]
        missing = [i for i in to_add + to_remove if i not in existing]
        members.update(added)
        members.difference_update(removed)
        # HubSpot's reference spells the first field `recordsIdsAdded`.
        return 200, {
            "recordsIdsAdded": added,
            "recordIdsRemoved": removed,
            "recordIdsMissing": missing,
        }

    def _gdpr_delete(self, body: Any) -> tuple[int, Any]:
        record_id = body["objectId"]
        email = next((e for e, i in self.contacts.items() if i == record_id), None)
        if email is None:
            return 404, _hubspot_error("OBJECT_NOT_FOUND", "Object not found.")
        del self.contacts[email]
        self.properties.pop(record_id, None)
        for members in self.lists.values():
            members.discard(record_id)
        self.gdpr_deleted.append(record_id)
        return 204, None


@contextmanager
def _serving(fake: FakeHubSpot) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            status, headers, body, delay = fake.handle(
                self.command, self.path, dict(self.headers), raw
            )
            time.sleep(delay)
            payload = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_POST = do_PUT = do_GET = _serve

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def hubspot() -> Iterator[tuple[FakeHubSpot, str]]:
    fake = FakeHubSpot()
    with _serving(fake) as url:
        yield fake, url


def _client(sleeps: list[float] | None = None, **options) -> HttpClient:
    settings = {
        "sleep": (sleeps if sleeps is not None else []).append,
        "now": lambda: NOW,
        "jitter": lambda: 1.0,
        "timeout": 2.0,
        "backoff_base": 0.5,
        "max_attempts": 4,
    }
    return HttpClient(**(settings | options))


def _destination(
    base_url: str, monkeypatch, client: HttpClient | None = None, **options
) -> HubSpotDestination:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    config = HubSpotDestinationConfig(
        list_id=LIST_ID, access_token_env=TOKEN_ENV, base_url=base_url, **options
    )
    return HubSpotDestination(config, client=client or _client())


def _add_batch(count: int, operation: str = "add", start: int = 0) -> Batch:
    records = [
        Record(
            operation,
            f"c{number:03d}",
            {
                "email": f"  Person{number}@Example.COM ",
                "first_name": f"First{number}",
                "last_name": f"Last{number}",
                "country": "NL",
            },
            f"h{number}",
        )
        for number in range(start, start + count)
    ]
    return Batch("vip_hubspot", operation, records)


# -- pure functions ------------------------------------------------------------------


def test_emails_are_trimmed_and_lowercased_and_non_addresses_refused():
    assert normalize_email("  Jane.Doe@Example.COM\n") == "jane.doe@example.com"
    for bad in (None, "", "   ", "jane", "@example.com", "jane@", "jane@example", "a@b@c.com"):
        assert normalize_email(bad) is None
    assert normalize_email("jane doe@example.com") is None
    assert normalize_email(42) is None


def test_payload_keys_map_to_contact_properties():
    payload = {
        "email": "ignored, the normalized one wins",
        "first_name": "Jane",
        "last_name": "Doe",
        "phone": "+31 6 1234 5678",
        "country": None,
        "vip": True,
        "orders": 3,
    }
    assert contact_properties(payload, "jane@example.com", {"orders": "cdp_orders"}) == {
        "email": "jane@example.com",
        "firstname": "Jane",
        "lastname": "Doe",
        "phone": "+31 6 1234 5678",
        "vip": "true",
        "cdp_orders": "3",
    }
    assert property_value(False) == "false"
    assert property_value(2.5) == "2.5"


def test_batch_errors_name_their_inputs_and_keep_hubspot_message():
    error = {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "message": "Property values were not valid",
        "context": {"objectWriteTraceId": ["c001"], "ids": ["a@example.com"]},
        "errors": [{"message": "Email address a@example is invalid", "code": "INVALID_EMAIL"}],
    }
    assert error_inputs(error) == {"c001", "a@example.com"}
    assert error_message(error) == (
        "VALIDATION_ERROR: Property values were not valid: Email address a@example is invalid"
    )
    assert error_inputs({"message": "no context"}) == set()
    assert membership_ids({"recordsIdsAdded": ["1"], "recordIdsAdded": ["2"]}, "recordIdsAdded")
    assert membership_ids({"recordIdsMissing": [7]}, "recordIdsMissing") == {"7"}


def test_an_address_is_found_in_a_message_only_as_itself():
    assert mentions_email("Email address a@b.com is invalid", "a@b.com")
    assert mentions_email("invalid: A@B.com.", "a@b.com")
    assert not mentions_email("Email address xa@b.com is invalid", "a@b.com")
    assert not mentions_email("Email address a@b.com.au is invalid", "a@b.com")
    assert not mentions_email("Email address a@b.comx is invalid", "a@b.com")


# -- configuration -------------------------------------------------------------------


def test_an_invalid_option_fails_at_load_naming_the_sync_and_the_field():
    document = {
        "syncs": [
            {
                "name": "vip_hubspot",
                "source": "segments.seg_vip",
                "fields": {"email": "email"},
                "destination": {
                    "type": "hubspot",
                    "options": {"list_id": LIST_ID, "max_batch_size": 500},
                },
            }
        ]
    }
    with pytest.raises(SyncConfigError) as raised:
        parse_syncs(document)
    assert "sync 'vip_hubspot'" in str(raised.value)
    assert "max_batch_size" in str(raised.value)

    document["syncs"][0]["destination"]["options"] = {"list_id": LIST_ID, "token": "x"}
    with pytest.raises(SyncConfigError, match="token"):
        parse_syncs(document)
    document["syncs"][0]["destination"]["options"] = {}
    with pytest.raises(SyncConfigError, match="list_id"):
        parse_syncs(document)


def test_defaults_follow_hubspot_documented_limits():
    config = HubSpotDestinationConfig(list_id=LIST_ID)
    assert config.max_batch_size == 100
    assert config.rate_limit_per_second == 10.0  # 100 requests per 10 seconds
    assert config.base_url == "https://api.hubapi.com"
    assert config.access_token_env == "HUBSPOT_ACCESS_TOKEN"


# -- operations ----------------------------------------------------------------------


def test_add_upserts_by_normalized_email_then_adds_the_ids_to_the_list(hubspot, monkeypatch):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)

    result = destination.send(_add_batch(2))

    upsert, membership = fake.requests
    assert upsert["method"] == "POST" and upsert["path"] == UPSERT
    assert upsert["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert upsert["headers"]["Content-Type"] == "application/json"
    assert upsert["body"] == {
        "inputs": [
            {
                "idProperty": "email",
                "id": f"person{n}@example.com",
                "objectWriteTraceId": f"c{n:03d}",
                "properties": {
                    "email": f"person{n}@example.com",
                    "firstname": f"First{n}",
                    "lastname": f"Last{n}",
                    "country": "NL",
                },
            }
            for n in range(2)
        ]
    }
    assert membership["method"] == "PUT"
    assert membership["path"] == f"{MEMBERSHIPS}/add"
    assert membership["body"] == ["1001", "1002"]
    assert result.acknowledged == {"c000": "1001", "c001": "1002"}
    assert result.rejected == {}
    assert result.requests == 2
    assert fake.members() == {"1001", "1002"}


def test_change_updates_the_same_contact_and_moves_membership_when_the_email_changed(
    hubspot, monkeypatch
):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)
    destination.send(_add_batch(2))
    fake.requests.clear()
    records = [
        Record("change", "c000", {"email": "person0@example.com", "country": "FR"}, "x", "1001"),
        Record("change", "c001", {"email": "new1@example.com"}, "y", "1002"),
    ]

    result = destination.send(Batch("vip_hubspot", "change", records))

    upsert, membership = fake.requests
    assert upsert["path"] == UPSERT
    assert membership["method"] == "PUT"
    assert membership["path"] == f"{MEMBERSHIPS}/add-and-remove"
    assert membership["body"] == {"recordIdsToAdd": ["1001", "1003"], "recordIdsToRemove": ["1002"]}
    assert result.acknowledged == {"c000": "1001", "c001": "1003"}
    assert fake.properties["1001"]["country"] == "FR"
    assert fake.members() == {"1001", "1003"}
    assert len(fake.contacts) == 3  # the old contact stays in the CRM, out of the list


def test_remove_takes_record_ids_out_of_the_list_and_keeps_the_contacts(hubspot, monkeypatch):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)
    destination.send(_add_batch(3))
    fake.requests.clear()
    records = [
        Record("remove", "c000", None, None, "1001"),
        Record("remove", "c002", None, None, "1003"),
        Record("remove", "c009", None, None, "9999"),  # deleted in HubSpot meanwhile
    ]

    result = destination.send(Batch("vip_hubspot", "remove", records))

    assert [(r["method"], r["path"], r["body"]) for r in fake.requests] == [
        ("PUT", f"{MEMBERSHIPS}/remove", ["1001", "1003", "9999"])
    ]
    assert set(result.acknowledged) == {"c000", "c002", "c009"}
    assert result.requests == 1
    assert fake.members() == {"1002"}
    assert len(fake.contacts) == 3


def test_erase_removes_from_the_list_then_gdpr_deletes_each_contact(hubspot, monkeypatch):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)
    destination.send(_add_batch(3))
    fake.requests.clear()
    records = [
        Record("erase", "c000", None, None, "1001"),
        Record("erase", "c001", None, None, "1002"),
        Record("erase", "c005", None, None, "7777"),  # already deleted: 404
    ]

    result = destination.send(Batch("vip_hubspot", "erase", records))

    assert [(r["method"], r["path"], r["body"]) for r in fake.requests] == [
        ("PUT", f"{MEMBERSHIPS}/remove", ["1001", "1002", "7777"]),
        ("POST", GDPR_DELETE, {"objectId": "1001"}),
        ("POST", GDPR_DELETE, {"objectId": "1002"}),
        ("POST", GDPR_DELETE, {"objectId": "7777"}),
    ]
    assert set(result.acknowledged) == {"c000", "c001", "c005"}
    assert result.requests == 4
    assert fake.gdpr_deleted == ["1001", "1002"]
    assert fake.members() == {"1003"}


def test_a_gdpr_delete_refused_for_one_contact_rejects_only_that_record(hubspot, monkeypatch):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)
    destination.send(_add_batch(2))
    fake.respond(200, {"recordIdsRemoved": ["1001", "1002"], "recordIdsMissing": []})
    fake.respond(400, _hubspot_error("VALIDATION_ERROR", "objectId must be numeric"))
    records = [
        Record("erase", "c000", None, None, "1001"),
        Record("erase", "c001", None, None, "1002"),
    ]

    result = destination.send(Batch("vip_hubspot", "erase", records))

    assert result.rejected == {
        "c000": "HubSpot GDPR delete answered HTTP 400: VALIDATION_ERROR: objectId must be numeric"
    }
    assert set(result.acknowledged) == {"c001"}


def test_records_without_an_email_are_rejected_and_never_sent(hubspot, monkeypatch):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)
    records = [
        Record("add", "c000", {"email": None, "first_name": "Nomail"}, "h0"),
        Record("add", "c001", {"email": "  not-an-address "}, "h1"),
        Record("add", "c002", {"first_name": "NoKey"}, "h2"),
        Record("add", "c003", {"email": "ok@example.com"}, "h3"),
        Record("add", "c004", {"email": " OK@example.com"}, "h4"),
    ]

    result = destination.send(Batch("vip_hubspot", "add", records))

    assert [i["id"] for i in fake.calls(UPSERT)[0]["body"]["inputs"]] == ["ok@example.com"]
    assert set(result.rejected) == {"c000", "c001", "c002", "c004"}
    assert "no valid email" in result.rejected["c000"]
    assert "same email as record c003" in result.rejected["c004"]
    assert result.acknowledged == {"c003": "1001"}


def test_a_batch_of_nothing_sendable_makes_no_request(hubspot, monkeypatch):
    fake, url = hubspot
    result = _destination(url, monkeypatch).send(
        Batch("vip_hubspot", "add", [Record("add", "c000", {"email": ""}, "h")])
    )
    assert fake.requests == []
    assert result.requests == 0
    assert set(result.rejected) == {"c000"}


@pytest.mark.parametrize("size", [1, 10, 23, 100])
def test_each_batch_size_takes_one_upsert_and_one_membership_request(hubspot, monkeypatch, size):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)

    result = destination.send(_add_batch(size))

    assert result.requests == 2
    assert [r["path"] for r in fake.requests] == [UPSERT, f"{MEMBERSHIPS}/add"]
    assert len(fake.calls(UPSERT)[0]["body"]["inputs"]) == size
    assert len(result.acknowledged) == size
    assert len(fake.members()) == size


# -- failures ------------------------------------------------------------------------


def test_a_207_rejects_the_named_inputs_with_hubspot_reason(hubspot, monkeypatch):
    fake, url = hubspot
    fake.invalid_emails["person1@example.com"] = "Email address person1@example.com is invalid"
    destination = _destination(url, monkeypatch)

    result = destination.send(_add_batch(3))

    assert result.rejected == {"c001": "VALIDATION_ERROR: Email address *** is invalid"}
    assert result.acknowledged == {"c000": "1001", "c002": "1002"}
    assert fake.calls(f"{MEMBERSHIPS}/add")[0]["body"] == ["1001", "1002"]
    assert result.requests == 2


def test_a_400_naming_inputs_rejects_them_and_sends_the_rest_again(hubspot, monkeypatch):
    fake, url = hubspot
    fake.invalid_as_400 = True
    fake.invalid_emails["person1@example.com"] = "Email address person1@example.com is invalid"
    destination = _destination(url, monkeypatch)

    result = destination.send(_add_batch(3))

    upserts = fake.calls(UPSERT)
    assert [len(u["body"]["inputs"]) for u in upserts] == [3, 2]
    assert result.rejected == {"c001": "Email address *** is invalid"}  # the reason, no email
    assert set(result.acknowledged) == {"c000", "c002"}
    assert result.requests == 3


def test_a_400_quoting_an_address_rejects_that_input_only(hubspot, monkeypatch):
    fake, url = hubspot
    fake.invalid_as_400, fake.invalid_400_has_context = True, False
    fake.invalid_emails["person2@example.com"] = "Email address person2@example.com is invalid"
    destination = _destination(url, monkeypatch)

    result = destination.send(_add_batch(3))

    assert [len(u["body"]["inputs"]) for u in fake.calls(UPSERT)] == [3, 2]
    assert result.rejected == {
        "c002": "VALIDATION_ERROR: Property values were not valid: Email address *** is invalid"
    }
    assert set(result.acknowledged) == {"c000", "c001"}


def test_a_400_naming_no_input_refuses_the_whole_batch(hubspot, monkeypatch):
    fake, url = hubspot
    fake.respond(
        400,
        _hubspot_error(
            "VALIDATION_ERROR",
            "Property values were not valid",
            errors=[{"message": 'Property "favourite_colour" does not exist'}],
        ),
    )

    with pytest.raises(DestinationError, match="favourite_colour"):
        _destination(url, monkeypatch).send(_add_batch(2))
    assert len(fake.calls(UPSERT)) == 1


def test_ids_hubspot_reports_missing_from_the_list_call_are_rejected(hubspot, monkeypatch):
    fake, url = hubspot
    destination = _destination(url, monkeypatch)
    fake.respond(
        200,
        {
            "status": "COMPLETE",
            "results": [
                {"id": "501", "objectWriteTraceId": "c000", "properties": {}},
                {"id": "502", "properties": {"email": "person1@example.com"}},
            ],
        },
    )
    fake.respond(200, {"recordsIdsAdded": ["501"], "recordIdsMissing": ["502"]})

    result = destination.send(_add_batch(2))

    assert result.acknowledged == {"c000": "501"}
    assert "502" in result.rejected["c001"] and "missing" in result.rejected["c001"]


@pytest.mark.parametrize(
    ("status", "category"), [(401, "INVALID_AUTHENTICATION"), (403, "MISSING_SCOPES")]
)
def test_auth_errors_refuse_the_whole_batch(hubspot, monkeypatch, status, category):
    fake, url = hubspot
    fake.respond(status, _hubspot_error(category, "This app hasn't been granted all scopes"))

    with pytest.raises(DestinationError) as raised:
        _destination(url, monkeypatch).send(_add_batch(2))

    assert f"HTTP {status}" in str(raised.value)
    assert category in str(raised.value)
    assert len(fake.requests) == 1


def test_an_unknown_list_refuses_the_batch(hubspot, monkeypatch):
    fake, url = hubspot
    fake.lists = {"7": set()}

    with pytest.raises(DestinationError, match="List 42 does not exist"):
        _destination(url, monkeypatch).send(_add_batch(2))


def test_a_429_waits_retry_after_then_succeeds(hubspot, monkeypatch):
    fake, url = hubspot
    sleeps: list[float] = []
    fake.respond(
        429,
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "policyName": "TEN_SECONDLY_ROLLING",
        },
        headers={"Retry-After": "3"},
    )

    result = _destination(url, monkeypatch, _client(sleeps)).send(_add_batch(5))

    assert sleeps == [3.0]
    assert len(result.acknowledged) == 5
    assert result.requests == 3


def test_a_burst_of_5xx_backs_off_and_then_succeeds(hubspot, monkeypatch):
    fake, url = hubspot
    sleeps: list[float] = []
    for status in (502, 503, 500):
        fake.respond(status, _hubspot_error("INTERNAL_ERROR", "oops"))

    result = _destination(url, monkeypatch, _client(sleeps)).send(_add_batch(5))

    assert sleeps == [0.5, 1.0, 2.0]
    assert len(result.acknowledged) == 5
    assert result.requests == 5


def test_a_timeout_is_retried(hubspot, monkeypatch):
    fake, url = hubspot
    sleeps: list[float] = []
    fake.respond(200, {"status": "COMPLETE", "results": []}, delay=0.9)

    result = _destination(url, monkeypatch, _client(sleeps, timeout=0.3)).send(_add_batch(2))

    assert len(sleeps) == 1
    assert len(result.acknowledged) == 2
    assert len(fake.calls(UPSERT)) == 2


def test_an_outage_longer_than_the_attempts_fails_without_acknowledging(hubspot, monkeypatch):
    fake, url = hubspot
    fake.outage_path = "/crm/"

    with pytest.raises(RetriesExhausted, match="after 2 attempts"):
        _destination(url, monkeypatch, _client(max_attempts=2)).send(_add_batch(2))


# -- through the engine --------------------------------------------------------------

CUSTOMERS = 60


def _customer_rows(count: int) -> list[tuple]:
    return [
        (
            f"c{number:03d}",
            number % 7 == 3,  # holdout
            number % 5 != 4,  # consent
            f" Person{number}@Example.com",
            f"First{number}",
            f"Last{number}",
            "NL" if number % 2 else "DE",
        )
        for number in range(count)
    ]


def _new_warehouse() -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(duckdb.connect(":memory:"))
    warehouse.execute("create schema segments")
    warehouse.execute("create schema core")
    warehouse.execute(
        """
        create table segments.seg_vip (
            customer_id varchar, is_holdout boolean, has_consent boolean, email varchar,
            first_name varchar, last_name varchar, country varchar
        )
        """
    )
    for row in _customer_rows(CUSTOMERS):
        warehouse.execute("insert into segments.seg_vip values ($1, $2, $3, $4, $5, $6, $7)", row)
    warehouse.execute(
        "create table core.customers as"
        " select customer_id, false as is_erased from segments.seg_vip"
    )
    return warehouse


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    opened = _new_warehouse()
    yield opened
    opened.close()


def _sync(url: str, **overrides) -> SyncConfig:
    options = {"list_id": LIST_ID, "access_token_env": TOKEN_ENV, "base_url": url}
    settings = {
        "name": "vip_hubspot",
        "source": "segments.seg_vip",
        "fields": {
            "email": "email",
            "first_name": "first_name",
            "last_name": "last_name",
            "country": "country",
        },
        "destination": {"type": "hubspot", "options": options},
        "secret_env": [TOKEN_ENV],
    }
    return SyncConfig(**(settings | overrides))


def _engine_destination(sync: SyncConfig, monkeypatch, **client_options) -> HubSpotDestination:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    destination = build_destination(sync)
    destination.client = _client(**client_options)
    destination.client.add_secret(TOKEN)
    return destination


def _desired_emails(warehouse: DuckDBWarehouse) -> dict[str, str]:
    rows = warehouse.fetchall(
        """
        select s.customer_id, lower(trim(s.email))
        from segments.seg_vip as s
        inner join core.customers as c on s.customer_id = c.customer_id
        where s.has_consent and not s.is_holdout and not c.is_erased
        """
    )
    return dict(rows)


def _assert_converged(fake: FakeHubSpot, warehouse: DuckDBWarehouse) -> None:
    desired = _desired_emails(warehouse)
    assert fake.members() == {fake.contacts[email] for email in desired.values()}
    state = dict(
        warehouse.fetchall("select record_key, destination_id from reverse_etl.sync_state")
    )
    assert state == {key: fake.contacts[email] for key, email in desired.items()}


def test_a_sync_sends_consenting_members_and_never_holdouts(hubspot, warehouse, monkeypatch):
    fake, url = hubspot
    sync = _sync(url)

    result = run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))

    desired = _desired_emails(warehouse)
    assert result.status == "success"
    assert result.added == len(desired)
    _assert_converged(fake, warehouse)
    sent = set(fake.upserted_keys())
    assert sent == set(desired)
    for number in range(CUSTOMERS):
        if number % 7 == 3 or number % 5 == 4:
            assert f"c{number:03d}" not in sent
            assert f"person{number}@example.com" not in fake.contacts


@pytest.mark.parametrize("batch_size", [1, 10, 23, 100])
def test_a_sync_makes_the_minimum_number_of_requests(hubspot, warehouse, monkeypatch, batch_size):
    fake, url = hubspot
    sync = _sync(url, batch_size=batch_size)
    desired = len(_desired_emails(warehouse))

    result = run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))

    batches = math.ceil(desired / min(batch_size, 100))
    assert result.requests == len(fake.requests) == 2 * batches
    assert len(fake.calls(UPSERT)) == batches
    _assert_converged(fake, warehouse)
    again = run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))
    assert again.requests == 0


def test_lost_consent_leavers_and_erasures_are_removed_and_erasure_deletes(
    hubspot, warehouse, monkeypatch
):
    fake, url = hubspot
    sync = _sync(url)
    run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))
    ids = dict(fake.contacts)
    fake.requests.clear()
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c000'")
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    warehouse.execute("update core.customers set is_erased = true where customer_id = 'c002'")
    warehouse.execute("update segments.seg_vip set country = 'FR' where customer_id = 'c005'")

    result = run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))

    assert (result.added, result.changed, result.removed) == (0, 1, 3)
    erased_id = ids["person2@example.com"]
    assert [(r["method"], r["body"]) for r in fake.calls(GDPR_DELETE)] == [
        ("POST", {"objectId": erased_id})
    ]
    removal_bodies = [r["body"] for r in fake.calls(f"{MEMBERSHIPS}/remove")]
    assert removal_bodies == [
        [erased_id],
        sorted([ids["person0@example.com"], ids["person1@example.com"]]),
    ]
    assert "person2@example.com" not in fake.contacts
    assert "person0@example.com" in fake.contacts  # a CRM contact stays; only the list changes
    assert fake.properties[ids["person5@example.com"]]["country"] == "FR"
    _assert_converged(fake, warehouse)


def test_a_member_without_consent_is_never_sent(hubspot, warehouse, monkeypatch):
    fake, url = hubspot
    sync = _sync(url)
    run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))
    warehouse.execute("update segments.seg_vip set has_consent = true where customer_id = 'c004'")
    warehouse.execute(
        "update segments.seg_vip set has_consent = false, country = 'BE' where customer_id = 'c006'"
    )

    run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))

    assert fake.upserted_keys().count("c006") == 1  # only while it had consent
    assert "c014" not in fake.upserted_keys()  # never consented
    assert "c004" in fake.upserted_keys()
    _assert_converged(fake, warehouse)


def test_rejections_are_retried_next_run_then_dead_lettered(hubspot, warehouse, monkeypatch):
    fake, url = hubspot
    fake.invalid_emails["person0@example.com"] = "Email address person0@example.com is invalid"
    sync = _sync(url, max_rejection_attempts=2)

    runs = [run_sync(sync, warehouse, _engine_destination(sync, monkeypatch)) for _ in range(3)]

    assert [run.failed for run in runs] == [1, 1, 0]
    assert fake.upserted_keys().count("c000") == 2
    assert warehouse.fetchall(
        "select record_key, operation, reason, attempts, is_dead_letter"
        " from reverse_etl.sync_rejections"
    ) == [("c000", "add", "VALIDATION_ERROR: Email address *** is invalid", 2, True)]
    assert "c000" not in dict(
        warehouse.fetchall("select record_key, 1 from reverse_etl.sync_state")
    )


class Killed(BaseException):
    """The process going away mid-run."""


@pytest.mark.parametrize("batch_size", [1, 10, 23])
@pytest.mark.parametrize("failure", ["upsert outage", "list outage after upsert", "killed"])
def test_a_run_interrupted_mid_stream_resumes_without_loss_or_resending(
    hubspot, warehouse, monkeypatch, batch_size, failure
):
    fake, url = hubspot
    sync = _sync(url, batch_size=batch_size)
    batches = math.ceil(len(_desired_emails(warehouse)) / batch_size)
    acknowledged_batches = batches // 2
    destination = _engine_destination(sync, monkeypatch, max_attempts=2)
    if failure == "upsert outage":
        fake.outage_path, fake.outage_after = UPSERT, acknowledged_batches
        expected: type[BaseException] = RetriesExhausted
    elif failure == "list outage after upsert":
        fake.outage_path, fake.outage_after = "/memberships/", acknowledged_batches
        expected = RetriesExhausted
    else:
        send, sent = destination.send, []

        def send_then_die(batch: Batch):
            if len(sent) == acknowledged_batches:
                raise Killed()
            sent.append(batch)
            return send(batch)

        destination.send = send_then_die  # type: ignore[method-assign]
        expected = Killed

    with pytest.raises(expected):
        run_sync(sync, warehouse, destination)

    acknowledged = {
        row[0] for row in warehouse.fetchall("select record_key from reverse_etl.sync_state")
    }
    assert len(acknowledged) == min(
        acknowledged_batches * batch_size, len(_desired_emails(warehouse))
    )
    assert warehouse.fetchall("select status from reverse_etl.sync_runs") == [("failed",)]
    sent_before = len(fake.calls(UPSERT))

    fake.outage_path = None
    resumed = run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))

    assert resumed.status == "success"
    resent = {
        i["objectWriteTraceId"]
        for r in fake.calls(UPSERT)[sent_before:]
        for i in r["body"]["inputs"]
    }
    assert not resent & acknowledged, "an acknowledged record was sent twice"
    assert len(fake.contacts) == len(_desired_emails(warehouse))  # no duplicate contacts
    _assert_converged(fake, warehouse)


def test_secrets_never_reach_logs_state_run_log_or_errors(hubspot, warehouse, monkeypatch, caplog):
    fake, url = hubspot
    sync = _sync(url)
    destination = _engine_destination(sync, monkeypatch)
    fake.respond(503, _hubspot_error("INTERNAL_ERROR", f"upstream saw Bearer {TOKEN}"))
    fake.respond(
        200,
        {
            "status": "COMPLETE",
            "results": [],
            "errors": [
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": f"token {TOKEN} cannot write",
                    "context": {"objectWriteTraceId": ["c000"]},
                }
            ],
        },
    )
    fake.echo_authorization = True

    with caplog.at_level(logging.DEBUG):
        run_sync(sync, warehouse, destination)
        destination.credentials = Credentials(
            {"access_token": "pat-na1-wrong"}
        )  # HubSpot answers 401, echoing the header
        destination.client.add_secret("pat-na1-wrong")
        warehouse.execute("update segments.seg_vip set country = 'FR' where customer_id = 'c005'")
        with pytest.raises(DestinationError) as raised:
            run_sync(sync, warehouse, destination)

    assert "HTTP 401" in str(raised.value)
    assert "pat-na1-wrong" not in str(raised.value)
    assert TOKEN not in caplog.text
    assert "pat-na1-wrong" not in caplog.text
    for table in ("sync_state", "sync_runs", "sync_rejections"):
        text = repr(warehouse.fetchall(f"select * from reverse_etl.{table}"))
        assert TOKEN not in text
        assert "pat-na1-wrong" not in text
    reason = warehouse.fetchall(
        "select reason from reverse_etl.sync_rejections where record_key = 'c000'"
    )[0][0]
    assert reason == "VALIDATION_ERROR: token *** cannot write"
    error = warehouse.fetchall("select error from reverse_etl.sync_runs where status = 'failed'")[
        0
    ][0]
    assert "401" in error


_indexes = st.sets(st.integers(0, CUSTOMERS - 1), max_size=6)


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rounds=st.lists(
        st.tuples(_indexes, _indexes, _indexes, st.none() | st.integers(0, 5)),
        min_size=1,
        max_size=3,
    ),
    batch_size=st.sampled_from([7, 23, 100]),
)
def test_random_changes_and_outages_always_converge(monkeypatch, rounds, batch_size):
    fake, warehouse = FakeHubSpot(), _new_warehouse()
    with _serving(fake) as url:
        sync = _sync(url, batch_size=batch_size)
        for consent_flips, erasures, country_changes, outage_after in rounds:
            for number in consent_flips:
                warehouse.execute(
                    "update segments.seg_vip set has_consent = not has_consent"
                    " where customer_id = $1",
                    [f"c{number:03d}"],
                )
            for number in erasures:
                warehouse.execute(
                    "update core.customers set is_erased = true where customer_id = $1",
                    [f"c{number:03d}"],
                )
            for number in country_changes:
                warehouse.execute(
                    "update segments.seg_vip set country = country || 'x' where customer_id = $1",
                    [f"c{number:03d}"],
                )
            fake.outage_path = "/crm/" if outage_after is not None else None
            fake.outage_after = outage_after or 0
            with suppress(RetriesExhausted):
                run_sync(sync, warehouse, _engine_destination(sync, monkeypatch, max_attempts=1))
        fake.outage_path = None
        final = run_sync(sync, warehouse, _engine_destination(sync, monkeypatch))
        assert final.status == "success"
        _assert_converged(fake, warehouse)
        assert run_sync(sync, warehouse, _engine_destination(sync, monkeypatch)).requests == 0
    warehouse.close()
