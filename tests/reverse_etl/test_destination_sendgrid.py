"""The SendGrid Marketing Campaigns destination against a fake SendGrid on 127.0.0.1.

Every request the fake receives is validated against SendGrid's own OpenAPI files
(`../shared/contracts/sendgrid/`), and so is every answer it gives; a request that does not
validate fails the test that made it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from reverse_etl.config import SyncConfig, SyncConfigError, parse_syncs
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import (
    Batch,
    Credentials,
    DestinationError,
    Record,
    chunks_within,
)
from reverse_etl.destinations.sendgrid import (
    SendGridDestination,
    SendGridDestinationConfig,
    contact_errors,
    contact_for,
    normalize_email,
)
from reverse_etl.engine import run_sync
from reverse_etl.http import HttpClient, RetriesExhausted
from reverse_etl.warehouse import DuckDBWarehouse
from tests.reverse_etl.openapi_contracts import (
    ContractViolation,
    validate_request,
    validate_response,
)
from tests.reverse_etl.support import desired_rows, serve, vip_warehouse

API_KEY = "SG.abcdefghijklmnop.0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
LIST_ID = "ca7a3796-e8a8-4029-9ccb-df8937940562"
OTHER_LIST = "0f2e6b1c-3d4a-4b5c-8d9e-0a1b2c3d4e5f"

# The spec types the `job_id` of Delete Contacts as an object while the API answers with a
# string; the destination does not read it, so that one answer is not checked.
_UNCHECKED_ANSWERS = {("DELETE", "/v3/marketing/contacts")}
ANSWERS_CHECKED_PER_KIND = 5


def should_check_answer(checked: Counter, request: Request, response: Response) -> bool:
    """Check the first answers of each operation and status: they all come from one code path,
    and checking the hundreds of pages of the largest batches would only make the tests slow."""
    if (request.method, request.path) in _UNCHECKED_ANSWERS:
        return False
    kind = (request.method, re.sub(r"/[0-9a-f-]{36}", "/{id}", request.path), response.status_code)
    checked[kind] += 1
    return checked[kind] <= ANSWERS_CHECKED_PER_KIND


# -- the fake SendGrid ---------------------------------------------------------------------


@dataclass
class Job:
    id: str
    requested: int
    created: int
    updated: int
    errored: int
    polls_before_finished: int


@dataclass
class FakeSendGrid:
    """Contacts, lists, upsert jobs and deletions, answering like SendGrid Marketing."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_email: dict[str, str] = field(default_factory=dict)
    lists: set[str] = field(default_factory=lambda: {LIST_ID, OTHER_LIST})
    jobs: dict[str, Job] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    received: list[tuple[str, str, dict[str, list[str]], Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    errored_emails: set[str] = field(default_factory=set)  # the job fails these contacts
    refused_emails: set[str] = field(default_factory=set)  # the PUT answers 400 naming them
    polls_before_finished: int = 0
    fail_after_jobs: int | None = None
    failing: bool = False
    answers_checked: Counter = field(default_factory=Counter)

    def members(self, list_id: str = LIST_ID) -> set[str]:
        return {c["email"] for c in self.contacts.values() if list_id in c["list_ids"]}

    def upserted_emails(self) -> Counter:
        """How many accepted upserts (202) carried each email."""
        counts: Counter = Counter()
        for method, path, _, body in self.received:
            if method == "PUT" and path == "/v3/marketing/contacts" and body.get("_accepted"):
                counts.update(contact["email"] for contact in body["contacts"])
        return counts

    def requests_to(self, method: str, pattern: str) -> int:
        return sum(1 for m, p, _, _ in self.received if m == method and re.fullmatch(pattern, p))

    # WSGI entry point -----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True, force=True) if request.get_data() else None
        self.received.append((request.method, request.path, request.args.to_dict(flat=False), body))
        try:
            validate_request("sendgrid", request)
        except ContractViolation as violation:
            self.violations.append(str(violation))
            return self._errors(400, str(violation))
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return self._errors(401, "authorization required")
        injected = self._scripted()
        if injected is not None:
            # 429 and 5xx are SendGrid's generic error shape; the operations do not list them.
            return injected
        response = self._route(request, body)
        if response.status_code < 500 and should_check_answer(
            self.answers_checked, request, response
        ):
            try:
                validate_response("sendgrid", request, response)
            except ContractViolation as violation:
                self.violations.append(str(violation))
        return response

    def _scripted(self) -> Response | None:
        if self.failing:
            return self._errors(503, "service unavailable")
        if not self.script:
            return None
        status, headers, delay = self.script.pop(0)
        time.sleep(delay)
        if status == 200:
            return None
        response = self._errors(status, "too many requests" if status == 429 else "server error")
        response.headers.update(headers)
        return response

    @staticmethod
    def _errors(status: int, message: str, field_name: str | None = None) -> Response:
        error: dict[str, Any] = {"message": message}
        if field_name is not None:
            error["field"] = field_name
        return Response(
            json.dumps({"errors": [error]}), status=status, content_type="application/json"
        )

    @staticmethod
    def _json(document: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(document), status=status, content_type="application/json")

    def _route(self, request: Request, body: Any) -> Response:
        path, method = request.path, request.method
        if method == "PUT" and path == "/v3/marketing/contacts":
            return self._upsert(body, request.host_url.rstrip("/"))
        match = re.fullmatch(r"/v3/marketing/contacts/imports/([^/]+)", path)
        if method == "GET" and match:
            return self._job(match.group(1), request.host_url.rstrip("/"))
        if method == "POST" and path == "/v3/marketing/contacts/search/emails":
            return self._search(body["emails"])
        match = re.fullmatch(r"/v3/marketing/lists/([^/]+)/contacts", path)
        if method == "DELETE" and match:
            if match.group(1) not in self.lists:
                return self._errors(404, "list not found")
            for contact_id in request.args["contact_ids"].split(","):
                if contact_id in self.contacts:
                    self.contacts[contact_id]["list_ids"].discard(match.group(1))
            return self._json({"job_id": str(uuid.uuid4())}, status=202)
        if method == "DELETE" and path == "/v3/marketing/contacts":
            for contact_id in request.args["ids"].split(","):
                contact = self.contacts.pop(contact_id, None)
                if contact is not None:
                    self.by_email.pop(contact["email"], None)
                    self.deleted.append(contact_id)
            return self._json({"job_id": str(uuid.uuid4())}, status=202)
        return self._errors(404, f"{method} {path} not found")

    def _upsert(self, body: dict[str, Any], host: str) -> Response:
        if self.fail_after_jobs is not None and len(self.jobs) >= self.fail_after_jobs:
            self.failing = True
            return self._errors(503, "service unavailable")
        refused = [
            (index, contact["email"])
            for index, contact in enumerate(body["contacts"])
            if contact["email"] in self.refused_emails
        ]
        if refused:
            errors = [
                {"field": f"contacts[{index}].email", "message": f"email {email} is not valid"}
                for index, email in refused
            ]
            return self._json({"errors": errors}, status=400)
        body["_accepted"] = True
        created = updated = errored = 0
        for contact in body["contacts"]:
            email = contact["email"].lower()
            if email in self.errored_emails:
                errored += 1
                continue
            contact_id = self.by_email.get(email)
            if contact_id is None:
                contact_id = str(uuid.uuid4())
                self.by_email[email] = contact_id
                self.contacts[contact_id] = {"id": contact_id, "list_ids": set()}
                created += 1
            else:
                updated += 1
            stored = self.contacts[contact_id]
            stored.update({k: v for k, v in contact.items() if k != "email"}, email=email)
            stored["list_ids"].update(body.get("list_ids", []))
        job = Job(
            str(uuid.uuid4()),
            len(body["contacts"]),
            created,
            updated,
            errored,
            self.polls_before_finished,
        )
        self.jobs[job.id] = job
        return self._json({"job_id": job.id}, status=202)

    def _job(self, job_id: str, host: str) -> Response:
        job = self.jobs.get(job_id)
        if job is None:
            return self._errors(404, "job not found")
        if job.polls_before_finished > 0:
            job.polls_before_finished -= 1
            status = "pending"
        elif job.errored == 0:
            status = "completed"
        else:
            status = "failed" if job.errored == job.requested else "errored"
        results: dict[str, Any] = {
            "requested_count": job.requested,
            "created_count": job.created,
            "updated_count": job.updated,
            "deleted_count": 0,
            "errored_count": job.errored,
        }
        if job.errored:
            results["errors_url"] = f"{host}/downloads/{job.id}/errors.csv"
        return self._json(
            {
                "id": job.id,
                "status": status,
                "job_type": "upsert",
                "results": results,
                "started_at": "2026-07-15T10:00:00Z",
                **({"finished_at": "2026-07-15T10:01:00Z"} if status != "pending" else {}),
            }
        )

    def _search(self, emails: list[str]) -> Response:
        result: dict[str, Any] = {}
        for email in emails:
            contact_id = self.by_email.get(email.lower())
            if contact_id is None:
                result[email.lower()] = {"error": "contact not found"}
                continue
            stored = self.contacts[contact_id]
            result[email.lower()] = {
                "contact": {
                    "id": contact_id,
                    "email": stored["email"],
                    "first_name": stored.get("first_name", ""),
                    "list_ids": sorted(stored["list_ids"]),
                    "segment_ids": [],
                    "custom_fields": {},
                    "created_at": "2026-07-15T10:00:00Z",
                    "updated_at": "2026-07-15T10:01:00Z",
                }
            }
        if all("error" in entry for entry in result.values()):
            return self._errors(404, "no contacts found")
        return self._json({"result": result})


@pytest.fixture
def sendgrid(server: HTTPServer) -> Iterator[tuple[FakeSendGrid, str]]:
    fake = FakeSendGrid()
    yield fake, serve(server, fake.handle)
    server.clear()
    assert fake.violations == [], "requests or answers outside SendGrid's OpenAPI files"


def _client(sleeps: list[float], **options: Any) -> HttpClient:
    settings: dict[str, Any] = {
        "sleep": sleeps.append,
        "jitter": lambda: 1.0,
        "timeout": 5.0,
        "max_attempts": 4,
    }
    return HttpClient(**(settings | options))


def _destination(
    base_url: str, monkeypatch, sleeps: list[float] | None = None, **options: Any
) -> SendGridDestination:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    client_options = options.pop("client_options", {})
    config = SendGridDestinationConfig(list_id=LIST_ID, base_url=base_url, **options)
    sleeps = sleeps if sleeps is not None else []
    return SendGridDestination(
        config, client=_client(sleeps, **client_options), sleep=sleeps.append
    )


def _records(count: int, operation: str = "add", start: int = 0) -> list[Record]:
    return [
        Record(
            operation,
            f"c{number:05d}",
            {
                "email": f" Person{number}@Example.com",
                "first_name": f"First{number}",
                "country": "NL",
            },
            f"h{number}",
        )
        for number in range(start, start + count)
    ]


# -- small pure functions ------------------------------------------------------------------


def test_emails_are_trimmed_and_lower_cased_like_sendgrid_stores_them():
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalize_email("") is None
    assert normalize_email(None) is None


def test_payload_fields_map_to_reserved_and_custom_fields():
    contact = contact_for(
        "c1",
        {"email": "A@B.com", "first_name": "Ann", "zip": 1234, "w1": "gold", "last_name": None},
        external_id=True,
    )
    assert contact == {
        "email": "a@b.com",
        "external_id": "c1",
        "first_name": "Ann",
        "postal_code": "1234",
        "custom_fields": {"w1": "gold"},
    }
    assert "external_id" not in contact_for("c1", {"email": "a@b.com"}, external_id=False)


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"first_name": "Ann"}, "no email"),
        ({"email": "not-an-email"}, "not a valid address"),
        ({"email": "a@b.com", "first_name": "x" * 51}, "first_name is longer"),
        ({"email": "x" * 95 + "@b.com"}, "longer than the 100 characters"),
    ],
)
def test_contacts_sendgrid_would_refuse_are_refused_locally(payload, problem):
    with pytest.raises(ValueError, match=problem):
        contact_for("c1", payload, external_id=False)


def test_upsert_chunks_respect_both_the_count_and_the_byte_limit():
    items = [{"value": "x" * 90} for _ in range(10)]
    assert [len(chunk) for chunk in chunks_within(items, 4, 10_000)] == [4, 4, 2]
    assert [len(chunk) for chunk in chunks_within(items, 100, 320)] == [3, 3, 3, 1]


def test_validation_errors_are_read_per_contact_only_when_all_name_a_contact():
    errors = [
        {"field": "contacts[2].email", "message": "invalid"},
        {"field": "contacts[2].first_name", "message": "too long"},
    ]
    assert contact_errors(errors) == {
        2: "contacts[2].email: invalid; contacts[2].first_name: too long"
    }
    assert contact_errors([*errors, {"field": "list_ids", "message": "bad"}]) is None
    assert contact_errors([]) is None


# -- contracts -----------------------------------------------------------------------------


def _werkzeug_request(method: str, path: str, body: Any, headers: dict[str, str]) -> Request:
    builder = EnvironBuilder(
        method=method,
        path=path,
        base_url="http://127.0.0.1:8080",
        data=json.dumps(body) if body is not None else None,
        content_type="application/json" if body is not None else None,
        headers=headers,
    )
    return Request(builder.get_environ())


def test_the_contract_check_catches_a_request_sendgrid_would_refuse():
    headers = {"Authorization": f"Bearer {API_KEY}"}
    valid = {"list_ids": [LIST_ID], "contacts": [{"email": "a@b.com"}]}
    assert (
        validate_request(
            "sendgrid", _werkzeug_request("PUT", "/v3/marketing/contacts", valid, headers)
        )
        == "tsg_mc_contacts_v3.json"
    )
    with pytest.raises(ContractViolation, match="'contacts' is a required property"):
        validate_request(
            "sendgrid",
            _werkzeug_request("PUT", "/v3/marketing/contacts", {"list_ids": [LIST_ID]}, headers),
        )
    with pytest.raises(ContractViolation, match="is not a 'uuid'"):
        validate_request(
            "sendgrid",
            _werkzeug_request(
                "PUT", "/v3/marketing/contacts", {**valid, "list_ids": ["vip"]}, headers
            ),
        )
    with pytest.raises(ContractViolation, match="contact_ids"):
        validate_request(
            "sendgrid",
            _werkzeug_request("DELETE", f"/v3/marketing/lists/{LIST_ID}/contacts", None, headers),
        )
    with pytest.raises(ContractViolation, match="Security"):
        validate_request("sendgrid", _werkzeug_request("PUT", "/v3/marketing/contacts", valid, {}))


# -- operations ----------------------------------------------------------------------------


def test_an_add_upserts_into_the_list_polls_the_job_and_reads_back_contact_ids(
    sendgrid, monkeypatch
):
    fake, base_url = sendgrid
    fake.polls_before_finished = 2
    sleeps: list[float] = []
    destination = _destination(base_url, monkeypatch, sleeps, poll_interval_seconds=4.0)

    result = destination.send(Batch("vip", "add", _records(3)))

    job_id = next(iter(fake.jobs))
    assert [(m, p) for m, p, _, _ in fake.received] == [
        ("PUT", "/v3/marketing/contacts"),
        ("GET", f"/v3/marketing/contacts/imports/{job_id}"),
        ("GET", f"/v3/marketing/contacts/imports/{job_id}"),
        ("GET", f"/v3/marketing/contacts/imports/{job_id}"),
        ("POST", "/v3/marketing/contacts/search/emails"),
    ]
    put = fake.received[0][3]
    assert put["list_ids"] == [LIST_ID]
    assert put["contacts"][0] == {
        "email": "person0@example.com",
        "first_name": "First0",
        "country": "NL",
    }
    assert fake.received[-1][3] == {
        "emails": ["person0@example.com", "person1@example.com", "person2@example.com"]
    }
    assert sleeps == [4.0, 4.0]
    assert fake.members() == {"person0@example.com", "person1@example.com", "person2@example.com"}
    assert result.acknowledged == {
        "c00000": fake.by_email["person0@example.com"],
        "c00001": fake.by_email["person1@example.com"],
        "c00002": fake.by_email["person2@example.com"],
    }
    assert result.requests == 5


def test_requests_carry_the_bearer_key_and_json(sendgrid, monkeypatch):
    _, base_url = sendgrid
    seen: list[dict[str, str]] = []
    destination = _destination(base_url, monkeypatch)
    destination.client.session.hooks["response"].append(
        lambda response, *args, **kwargs: seen.append(dict(response.request.headers))
    )

    destination.send(Batch("vip", "add", _records(1)))

    assert seen[0]["Authorization"] == f"Bearer {API_KEY}"
    assert seen[0]["Content-Type"] == "application/json"


def test_the_external_id_is_sent_when_asked_for(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    destination = _destination(base_url, monkeypatch, send_external_id=True)

    destination.send(Batch("vip", "add", _records(1)))

    assert fake.received[0][3]["contacts"][0]["external_id"] == "c00000"


def test_a_remove_takes_contacts_off_the_list_by_id(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    destination = _destination(base_url, monkeypatch)
    added = destination.send(Batch("vip", "add", _records(3))).acknowledged
    fake.received.clear()

    removals = [Record("remove", key, None, None, added[key]) for key in ("c00000", "c00001")]
    result = destination.send(Batch("vip", "remove", removals))

    assert fake.received == [
        (
            "DELETE",
            f"/v3/marketing/lists/{LIST_ID}/contacts",
            {"contact_ids": [f"{added['c00000']},{added['c00001']}"]},
            None,
        )
    ]
    assert fake.members() == {"person2@example.com"}
    assert len(fake.contacts) == 3  # removed from the list, not deleted
    assert set(result.acknowledged) == {"c00000", "c00001"}


def test_an_erase_removes_from_the_list_and_deletes_the_contact(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    destination = _destination(base_url, monkeypatch)
    added = destination.send(Batch("vip", "add", _records(2))).acknowledged
    fake.received.clear()

    result = destination.send(
        Batch("vip", "erase", [Record("erase", "c00000", None, None, added["c00000"])])
    )

    assert [(m, p, q) for m, p, q, _ in fake.received] == [
        ("DELETE", f"/v3/marketing/lists/{LIST_ID}/contacts", {"contact_ids": [added["c00000"]]}),
        ("DELETE", "/v3/marketing/contacts", {"ids": [added["c00000"]]}),
    ]
    assert fake.deleted == [added["c00000"]]
    assert "person0@example.com" not in fake.by_email
    assert result.acknowledged == {"c00000": added["c00000"]}


@pytest.mark.parametrize("size", [1, 10, 23, 30_000])
def test_batches_use_the_minimum_number_of_requests(sendgrid, monkeypatch, size):
    fake, base_url = sendgrid
    destination = _destination(base_url, monkeypatch, client_options={"timeout": 60.0})
    assert destination.max_batch_size == 30_000

    added = destination.send(Batch("vip", "add", _records(size)))

    # One upsert, one poll (finished), the contact ids looked up 100 emails a request.
    assert added.requests == 2 + math.ceil(size / 100)
    assert len(added.acknowledged) == size
    assert len(fake.members()) == size

    removals = [Record("remove", key, None, None, cid) for key, cid in added.acknowledged.items()]
    removed = destination.send(Batch("vip", "remove", removals))

    assert removed.requests == math.ceil(size / 100)
    assert fake.members() == set()


def test_contacts_the_job_could_not_import_are_rejected_with_its_outcome(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    fake.errored_emails = {"person1@example.com"}
    records = [*_records(3), Record("add", "c00009", {"first_name": "No email"}, "h9")]

    result = _destination(base_url, monkeypatch).send(Batch("vip", "add", records))

    assert set(result.acknowledged) == {"c00000", "c00002"}
    assert re.fullmatch(
        r"contact not found after import job [0-9a-f-]+ finished errored with 1 errored contacts",
        result.rejected["c00001"],
    )
    assert "no email" in result.rejected["c00009"]
    assert fake.upserted_emails()["person1@example.com"] == 1


def test_a_400_naming_contacts_rejects_them_and_resends_the_others(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    fake.refused_emails = {"person1@example.com"}

    result = _destination(base_url, monkeypatch).send(Batch("vip", "add", _records(3)))

    assert result.rejected == {
        "c00001": "contacts[1].email: email *** is not valid"  # no personal data is kept
    }
    assert set(result.acknowledged) == {"c00000", "c00002"}
    assert fake.requests_to("PUT", "/v3/marketing/contacts") == 2
    assert fake.members() == {"person0@example.com", "person2@example.com"}


def test_a_changed_email_moves_the_list_membership_to_the_new_contact(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    destination = _destination(base_url, monkeypatch)
    old_id = destination.send(Batch("vip", "add", _records(1))).acknowledged["c00000"]

    change = Record("change", "c00000", {"email": "new@example.com"}, "h2", old_id)
    result = destination.send(Batch("vip", "change", [change]))

    assert result.acknowledged["c00000"] != old_id
    assert fake.members() == {"new@example.com"}
    assert fake.requests_to("DELETE", f"/v3/marketing/lists/{LIST_ID}/contacts") == 1


def test_a_job_that_never_finishes_is_never_acknowledged(sendgrid, monkeypatch):
    fake, base_url = sendgrid
    fake.polls_before_finished = 10
    destination = _destination(
        base_url, monkeypatch, poll_interval_seconds=1.0, max_poll_seconds=2.0
    )

    with pytest.raises(DestinationError, match="still pending"):
        destination.send(Batch("vip", "add", _records(1)))


def test_a_refused_key_fails_the_batch_without_leaking_it(sendgrid, monkeypatch):
    _, base_url = sendgrid
    destination = _destination(base_url, monkeypatch)
    destination.credentials = Credentials({"api_key": "SG.revoked-key-value"})
    destination.client.add_secret("SG.revoked-key-value")

    with pytest.raises(DestinationError, match="HTTP 401") as raised:
        destination.send(Batch("vip", "add", _records(1)))

    assert "SG.revoked-key-value" not in str(raised.value)


def test_defaults_are_sendgrids_documented_limits():
    config = SendGridDestinationConfig(list_id=LIST_ID)
    assert config.max_batch_size == 30_000
    assert config.rate_limit_per_second == pytest.approx(10.0)
    assert config.base_url == "https://api.sendgrid.com"


def test_an_invalid_option_fails_at_load_naming_the_sync_and_the_field():
    document = {
        "syncs": [
            {
                "name": "vip_sendgrid",
                "source": "segments.seg_vip",
                "fields": {"email": "email"},
                "destination": {"type": "sendgrid", "options": {"list_id": "vip-list"}},
            }
        ]
    }
    with pytest.raises(SyncConfigError, match=r"sync 'vip_sendgrid'.*list_id"):
        parse_syncs(document)
    document["syncs"][0]["destination"]["options"] = {"list_id": LIST_ID, "batch": 5}
    with pytest.raises(SyncConfigError, match=r"sync 'vip_sendgrid'.*batch"):
        parse_syncs(document)


# -- through the engine --------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    opened = vip_warehouse(tmp_path, 40)
    yield opened
    opened.close()


def _desired_emails(warehouse: DuckDBWarehouse) -> set[str]:
    return {email.lower() for email in desired_rows(warehouse).values()}


def _sync(base_url: str, **overrides: Any) -> SyncConfig:
    settings = {
        "name": "vip_sendgrid",
        "source": "segments.seg_vip",
        "fields": {"email": "email", "first_name": "first_name", "country": "country"},
        "batch_size": 10,
        "secret_env": ["SENDGRID_API_KEY"],
        "destination": {
            "type": "sendgrid",
            "options": {"list_id": LIST_ID, "base_url": base_url, "poll_interval_seconds": 0.01},
        },
    }
    return SyncConfig(**(settings | overrides))


def _built(sync: SyncConfig, monkeypatch, **client_options: Any) -> SendGridDestination:
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    destination = build_destination(sync)
    destination.client = _client([], **client_options)
    destination.client.add_secret(API_KEY)
    destination.sleep = lambda seconds: None
    return destination


def _state(warehouse: DuckDBWarehouse) -> dict[str, str]:
    return dict(warehouse.fetchall("select record_key, destination_id from reverse_etl.sync_state"))


def test_a_sync_killed_mid_stream_resumes_to_exactly_the_desired_list(
    sendgrid, warehouse, monkeypatch
):
    fake, base_url = sendgrid
    sync = _sync(base_url)
    fake.fail_after_jobs = 2

    with pytest.raises(RetriesExhausted):
        run_sync(sync, warehouse, _built(sync, monkeypatch, max_attempts=2))

    acknowledged = _state(warehouse)
    assert len(acknowledged) == 20
    fake.failing, fake.fail_after_jobs = False, None
    result = run_sync(sync, warehouse, _built(sync, monkeypatch))

    desired = _desired_emails(warehouse)
    assert result.status == "success"
    assert fake.members() == desired
    upserted = fake.upserted_emails()
    emails = {cid: contact["email"] for cid, contact in fake.contacts.items()}
    assert all(upserted[emails[cid]] == 1 for cid in acknowledged.values()), "resent"
    assert set(upserted) == desired
    assert {emails[cid] for cid in _state(warehouse).values()} == desired


def test_consent_holdouts_and_erasure_through_the_engine(sendgrid, warehouse, monkeypatch, caplog):
    fake, base_url = sendgrid
    sync = _sync(base_url)
    with caplog.at_level(logging.DEBUG):
        run_sync(sync, warehouse, _built(sync, monkeypatch))
        never = {
            row[0]
            for row in warehouse.fetchall(
                "select email from segments.seg_vip where is_holdout or not has_consent"
            )
        }
        assert not never & set(fake.upserted_emails())
        ids = _state(warehouse)
        warehouse.execute(
            "update segments.seg_vip set has_consent = false where customer_id = 'c000'"
        )
        warehouse.execute("update core.customers set is_erased = true where customer_id = 'c001'")

        result = run_sync(sync, warehouse, _built(sync, monkeypatch))

    assert result.removed == 2
    assert fake.members() == _desired_emails(warehouse)
    assert fake.deleted == [ids["c001"]]
    assert ids["c000"] in fake.contacts  # withdrawn consent: off the list, not deleted
    assert API_KEY not in caplog.text
    for table in ("sync_state", "sync_runs", "sync_rejections"):
        assert API_KEY not in repr(warehouse.fetchall(f"select * from reverse_etl.{table}"))


def test_rejections_are_retried_next_run_then_dead_lettered(sendgrid, warehouse, monkeypatch):
    fake, base_url = sendgrid
    fake.errored_emails = {"person0@example.com"}
    sync = _sync(base_url, max_rejection_attempts=2)

    runs = [run_sync(sync, warehouse, _built(sync, monkeypatch)) for _ in range(3)]

    assert [run.failed for run in runs] == [1, 1, 0]
    assert fake.upserted_emails()["person0@example.com"] == 2
    rows = warehouse.fetchall(
        "select reason, attempts, is_dead_letter from reverse_etl.sync_rejections"
    )
    assert len(rows) == 1
    assert rows[0][0].startswith("contact not found after import job")
    assert rows[0][1:] == (2, True)


def test_a_failed_run_records_a_redacted_error(sendgrid, warehouse, monkeypatch, caplog):
    _, base_url = sendgrid
    sync = _sync(base_url)
    destination = _built(sync, monkeypatch)
    destination.credentials = Credentials({"api_key": API_KEY + "-revoked"})

    with caplog.at_level(logging.DEBUG), pytest.raises(DestinationError):
        run_sync(sync, warehouse, destination)

    status, error = warehouse.fetchall("select status, error from reverse_etl.sync_runs")[0]
    assert status == "failed"
    assert "HTTP 401" in error
    assert API_KEY not in error
    assert API_KEY not in caplog.text
