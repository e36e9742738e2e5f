"""The Klaviyo destination against a fake Klaviyo on 127.0.0.1.

Every request the fake receives is validated against Klaviyo's own OpenAPI files
(`../shared/contracts/klaviyo/`), and so is every answer it gives; a request that does not
validate fails the test that made it.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
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
from reverse_etl.destinations.klaviyo import (
    KLAVIYO_REVISION,
    KlaviyoDestination,
    KlaviyoDestinationConfig,
    match_import_error,
    normalize_email,
    normalize_phone,
    profile_attributes,
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

API_KEY = "pk_live_0123456789abcdef0123456789"
LIST_ID = "Y6nRLr"
JSON_API = "application/vnd.api+json"


ANSWERS_CHECKED_PER_KIND = 5


def should_check_answer(checked: Counter, request: Request, response: Response) -> bool:
    """Check the first answers of each operation and status: they all come from one code path,
    and checking the hundreds of pages of the largest batches would only make the tests slow."""
    kind = (
        request.method,
        re.sub(r"/01[A-Z0-9]{24,}", "/{id}", request.path),
        response.status_code,
    )
    checked[kind] += 1
    return checked[kind] <= ANSWERS_CHECKED_PER_KIND


# -- the fake Klaviyo ----------------------------------------------------------------------


@dataclass
class Job:
    id: str
    profile_ids: list[str]
    errors: list[dict[str, Any]]
    total: int
    polls_before_complete: int


@dataclass
class FakeKlaviyo:
    """Profiles, one list, bulk import jobs and deletion jobs, answering like Klaviyo."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    lists: dict[str, set[str]] = field(default_factory=lambda: {LIST_ID: set()})
    jobs: dict[str, Job] = field(default_factory=dict)
    by_external_id: dict[str, str] = field(default_factory=dict)
    deletion_requests: list[str] = field(default_factory=list)
    received: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    polls_before_complete: int = 0
    fail_after_jobs: int | None = None
    fail_after_deletions: int | None = None
    failing: bool = False
    answers_checked: Counter = field(default_factory=Counter)
    _counter: int = 0

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:024d}"

    @property
    def members(self) -> set[str]:
        return self.lists[LIST_ID]

    def member_external_ids(self) -> set[str]:
        return {self.profiles[pid]["external_id"] for pid in self.members}

    def imported_keys(self) -> Counter:
        """How many import jobs carried each external id."""
        counts: Counter = Counter()
        for method, path, body in self.received:
            if method == "POST" and path == "/api/profile-bulk-import-jobs" and body:
                profiles = body["data"]["attributes"]["profiles"]["data"]
                counts.update(p["attributes"]["external_id"] for p in profiles)
        return counts

    def requests_to(self, method: str, pattern: str) -> int:
        return sum(1 for m, p, _ in self.received if m == method and re.fullmatch(pattern, p))

    # WSGI entry point -----------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        body = request.get_json(silent=True, force=True) if request.get_data() else None
        self.received.append((request.method, request.path, body))
        try:
            validate_request("klaviyo", request)
        except ContractViolation as violation:
            self.violations.append(str(violation))
            return self._errors(400, "invalid", "Invalid input", str(violation))
        if request.headers.get("Authorization") != f"Klaviyo-API-Key {API_KEY}":
            return self._errors(401, "not_authenticated", "Not authenticated", "Bad API key")
        if request.headers.get("revision") != KLAVIYO_REVISION:
            self.violations.append(f"revision {request.headers.get('revision')}")
        response = self._scripted() or self._route(request, body)
        if response.status_code != 204 and should_check_answer(
            self.answers_checked, request, response
        ):
            try:
                validate_response("klaviyo", request, response)
            except ContractViolation as violation:
                self.violations.append(str(violation))
        return response

    def _scripted(self) -> Response | None:
        if self.failing:
            return self._errors(503, "service_unavailable", "Unavailable", "Try later")
        if not self.script:
            return None
        status, headers, delay = self.script.pop(0)
        time.sleep(delay)
        if status == 200:
            return None
        response = self._errors(status, "throttled", "Request was throttled", "Slow down")
        response.headers.update(headers)
        return response

    @staticmethod
    def _errors(status: int, code: str, title: str, detail: str) -> Response:
        document = {
            "errors": [{"id": "e4eebb08-b055-4a6f", "code": code, "title": title, "detail": detail}]
        }
        return Response(json.dumps(document), status=status, content_type=JSON_API)

    @staticmethod
    def _json(document: dict[str, Any], status: int = 200) -> Response:
        return Response(json.dumps(document), status=status, content_type=JSON_API)

    def _route(self, request: Request, body: Any) -> Response:
        path, method = request.path, request.method
        host = request.host_url.rstrip("/")
        if method == "POST" and path == "/api/profile-bulk-import-jobs":
            return self._create_job(body, host)
        match = re.fullmatch(
            r"/api/profile-bulk-import-jobs/([^/]+)(/import-errors|/profiles)?", path
        )
        if method == "GET" and match:
            job = self.jobs.get(match.group(1))
            if job is None:
                return self._errors(404, "not_found", "Not found", "No such job")
            if match.group(2) is None:
                return self._job(job, host)
            return self._page(request, job, match.group(2), host)
        match = re.fullmatch(r"/api/lists/([^/]+)/relationships/profiles", path)
        if method == "DELETE" and match:
            if match.group(1) not in self.lists:
                return self._errors(404, "not_found", "Not found", "List not found")
            for item in body["data"]:
                self.lists[match.group(1)].discard(item["id"])
            return Response(status=204)
        if method == "POST" and path == "/api/data-privacy-deletion-jobs":
            if (
                self.fail_after_deletions is not None
                and len(self.deletion_requests) >= self.fail_after_deletions
            ):
                self.failing = True
                return self._errors(503, "service_unavailable", "Unavailable", "Try later")
            profile_id = body["data"]["attributes"]["profile"]["data"]["id"]
            if profile_id not in self.profiles:
                return self._errors(404, "not_found", "Not found", "Profile not found")
            self.deletion_requests.append(profile_id)
            self.profiles.pop(profile_id, None)
            for members in self.lists.values():
                members.discard(profile_id)
            return Response(status=202)
        return self._errors(404, "not_found", "Not found", f"{method} {path}")

    def _create_job(self, body: dict[str, Any], host: str) -> Response:
        if self.fail_after_jobs is not None and len(self.jobs) >= self.fail_after_jobs:
            self.failing = True
            return self._errors(503, "service_unavailable", "Unavailable", "Try later")
        data = body["data"]
        list_ids = [
            item["id"] for item in data.get("relationships", {}).get("lists", {}).get("data", [])
        ]
        job_id = self._new_id("01JOB")
        ids: list[str] = []
        errors: list[dict[str, Any]] = []
        for index, profile in enumerate(data["attributes"]["profiles"]["data"]):
            attributes = profile["attributes"]
            email = attributes.get("email")
            if email is not None and "@" not in email:
                errors.append(
                    {
                        "type": "import-error",
                        "id": self._new_id("err"),
                        "attributes": {
                            "code": "invalid",
                            "title": "Invalid input.",
                            "detail": f"Invalid email address: {email}",
                            "source": {"pointer": f"/data/attributes/profiles/data/{index}"},
                            "original_payload": attributes,
                        },
                    }
                )
                continue
            external_id = attributes["external_id"]
            profile_id = self.by_external_id.get(external_id) or self._new_id("01P")
            self.by_external_id[external_id] = profile_id
            self.profiles[profile_id] = {**self.profiles.get(profile_id, {}), **attributes}
            for list_id in list_ids:
                self.lists[list_id].add(profile_id)
            ids.append(profile_id)
        total = len(data["attributes"]["profiles"]["data"])
        job = Job(job_id, ids, errors, total, self.polls_before_complete)
        self.jobs[job_id] = job
        document = self._job_document(job, host, status="queued")
        return self._json(document, status=202)

    def _job_document(self, job: Job, host: str, status: str) -> dict[str, Any]:
        done = status == "complete"
        job_url = f"{host}/api/profile-bulk-import-jobs/{job.id}"
        return {
            "data": {
                "type": "profile-bulk-import-job",
                "id": job.id,
                "attributes": {
                    "status": status,
                    "created_at": "2026-07-15T10:00:00+00:00",
                    "total_count": job.total,
                    "completed_count": len(job.profile_ids) if done else 0,
                    "failed_count": len(job.errors) if done else 0,
                    "completed_at": "2026-07-15T10:01:00+00:00" if done else None,
                    "expires_at": None,
                    "started_at": "2026-07-15T10:00:01+00:00",
                },
                "relationships": {
                    "lists": {
                        "data": [{"type": "list", "id": LIST_ID}],
                        "links": {
                            "self": f"{job_url}/relationships/lists",
                            "related": f"{job_url}/lists",
                        },
                    },
                },
                "links": {"self": f"{host}/api/profile-bulk-import-jobs/{job.id}"},
            },
            "links": {"self": f"{host}/api/profile-bulk-import-jobs/{job.id}"},
        }

    def _job(self, job: Job, host: str) -> Response:
        if job.polls_before_complete > 0:
            job.polls_before_complete -= 1
            return self._json(self._job_document(job, host, status="processing"))
        return self._json(self._job_document(job, host, status="complete"))

    def _page(self, request: Request, job: Job, kind: str, host: str) -> Response:
        size = int(request.args.get("page[size]", 20))
        start = int(request.args.get("page[cursor]", 0))
        base = f"{host}/api/profile-bulk-import-jobs/{job.id}{kind}"
        if kind == "/import-errors":
            items = job.errors[start : start + size]
            total = len(job.errors)
        else:
            wanted = request.args.get("fields[profile]", "email,external_id").split(",")
            items = [
                {
                    "type": "profile",
                    "id": pid,
                    "attributes": {
                        name: self.profiles[pid].get(name)
                        for name in wanted
                        if name in ("email", "external_id")
                    },
                    "links": {"self": f"{host}/api/profiles/{pid}"},
                }
                for pid in job.profile_ids[start : start + size]
                if pid in self.profiles
            ]
            total = len(job.profile_ids)
        links = {"self": f"{base}?page%5Bsize%5D={size}&page%5Bcursor%5D={start}"}
        if start + size < total:
            links["next"] = f"{base}?page%5Bsize%5D={size}&page%5Bcursor%5D={start + size}"
        return self._json({"data": items, "links": links})


@pytest.fixture
def klaviyo(server: HTTPServer) -> Iterator[tuple[FakeKlaviyo, str]]:
    fake = FakeKlaviyo()
    yield fake, serve(server, fake.handle)
    server.clear()
    assert fake.violations == [], "requests or answers outside Klaviyo's OpenAPI files"


def _client(sleeps: list[float], **options: Any) -> HttpClient:
    settings: dict[str, Any] = {
        "sleep": sleeps.append,
        "jitter": lambda: 1.0,
        "timeout": 2.0,
        "max_attempts": 4,
    }
    return HttpClient(**(settings | options))


def _destination(
    base_url: str, monkeypatch, sleeps: list[float] | None = None, **options: Any
) -> KlaviyoDestination:
    monkeypatch.setenv("KLAVIYO_API_KEY", API_KEY)
    client_options = options.pop("client_options", {})
    config = KlaviyoDestinationConfig(list_id=LIST_ID, base_url=base_url, **options)
    sleeps = sleeps if sleeps is not None else []
    return KlaviyoDestination(config, client=_client(sleeps, **client_options), sleep=sleeps.append)


def _records(count: int, operation: str = "add", start: int = 0) -> list[Record]:
    return [
        Record(
            operation,
            f"c{number:05d}",
            {
                "email": f"Person{number}@Example.com ",
                "first_name": f"First{number}",
                "country": "NL",
            },
            f"h{number}",
        )
        for number in range(start, start + count)
    ]


# -- small pure functions ------------------------------------------------------------------


def test_emails_are_trimmed_and_lower_cased():
    assert normalize_email("  Jane.Doe@Example.COM ") == "jane.doe@example.com"
    assert normalize_email("  ") is None
    assert normalize_email(None) is None


def test_phone_numbers_become_e164_or_are_refused():
    assert normalize_phone("+31 (0)6-1234 5678".replace("(0)", "")) == "+31612345678"
    assert normalize_phone("0031 6 12345678") == "+31612345678"
    assert normalize_phone(None) is None
    with pytest.raises(ValueError, match=r"E\.164"):
        normalize_phone("06 12345678")


def test_payload_fields_map_to_attributes_location_and_properties():
    attributes = profile_attributes(
        "c1",
        {
            "email": "A@B.com",
            "phone": "+15005550006",
            "first_name": "Ann",
            "country": "NL",
            "zip": 1234,
            "lifetime_value": 12.5,
            "last_name": None,
        },
    )
    assert attributes == {
        "external_id": "c1",
        "email": "a@b.com",
        "phone_number": "+15005550006",
        "first_name": "Ann",
        "location": {"country": "NL", "zip": "1234"},
        "properties": {"lifetime_value": 12.5},
    }


def test_a_profile_needs_an_email_or_a_phone_number():
    with pytest.raises(ValueError, match="neither an email nor a phone"):
        profile_attributes("c1", {"first_name": "Ann", "email": " "})


def test_import_chunks_respect_both_the_count_and_the_byte_limit():
    items = [{"value": "x" * 90} for _ in range(10)]  # 103 bytes of JSON each, plus a comma
    assert [len(chunk) for chunk in chunks_within(items, 4, 10_000)] == [4, 4, 2]
    assert [len(chunk) for chunk in chunks_within(items, 100, 320)] == [3, 3, 3, 1]


def test_import_errors_are_matched_by_payload_then_by_pointer():
    identifiers = {"external_id:c1": "c1", "email:b@x.com": "c2", "external_id:c3": "c3"}
    by_payload = {"attributes": {"original_payload": {"email": "B@x.com"}, "source": {}}}
    by_pointer = {
        "attributes": {
            "original_payload": None,
            "source": {"pointer": "/data/attributes/profiles/data/2/attributes/email"},
        }
    }
    assert match_import_error(by_payload, identifiers, ["c1", "c2", "c3"]) == "c2"
    assert match_import_error(by_pointer, identifiers, ["c1", "c2", "c3"]) == "c3"
    assert match_import_error({"attributes": {}}, identifiers, ["c1"]) is None


# -- contracts -----------------------------------------------------------------------------


def _werkzeug_request(method: str, path: str, body: Any, headers: dict[str, str]) -> Request:
    builder = EnvironBuilder(
        method=method,
        path=path,
        base_url="http://127.0.0.1:8080",
        data=json.dumps(body),
        content_type=JSON_API,
        headers=headers,
    )
    return Request(builder.get_environ())


def test_the_contract_check_catches_a_request_klaviyo_would_refuse():
    headers = {"Authorization": f"Klaviyo-API-Key {API_KEY}", "revision": KLAVIYO_REVISION}
    valid = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": []}}}}
    assert validate_request(
        "klaviyo", _werkzeug_request("POST", "/api/profile-bulk-import-jobs", valid, headers)
    ) == ("bulk_import_profiles.json")

    missing_attributes = {"data": {"type": "profile-bulk-import-job"}}
    with pytest.raises(ContractViolation, match="'attributes' is a required property"):
        validate_request(
            "klaviyo",
            _werkzeug_request("POST", "/api/profile-bulk-import-jobs", missing_attributes, headers),
        )
    with pytest.raises(ContractViolation, match="Security not found"):
        validate_request(
            "klaviyo",
            _werkzeug_request(
                "POST", "/api/profile-bulk-import-jobs", valid, {"revision": KLAVIYO_REVISION}
            ),
        )
    with pytest.raises(ContractViolation, match="no operation"):
        validate_request("klaviyo", _werkzeug_request("POST", "/api/lists", valid, headers))


# -- operations ----------------------------------------------------------------------------


def test_an_add_is_one_import_job_into_the_list_polled_until_complete(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    fake.polls_before_complete = 2
    sleeps: list[float] = []
    destination = _destination(base_url, monkeypatch, sleeps, poll_interval_seconds=3.0)

    result = destination.send(Batch("vip", "add", _records(3)))

    assert [(m, p) for m, p, _ in fake.received] == [
        ("POST", "/api/profile-bulk-import-jobs"),
        ("GET", f"/api/profile-bulk-import-jobs/{next(iter(fake.jobs))}"),
        ("GET", f"/api/profile-bulk-import-jobs/{next(iter(fake.jobs))}"),
        ("GET", f"/api/profile-bulk-import-jobs/{next(iter(fake.jobs))}"),
        ("GET", f"/api/profile-bulk-import-jobs/{next(iter(fake.jobs))}/profiles"),
    ]
    body = fake.received[0][2]
    assert body["data"]["relationships"] == {"lists": {"data": [{"type": "list", "id": LIST_ID}]}}
    assert body["data"]["attributes"]["profiles"]["data"][0] == {
        "type": "profile",
        "attributes": {
            "external_id": "c00000",
            "email": "person0@example.com",
            "first_name": "First0",
            "location": {"country": "NL"},
        },
    }
    assert sleeps == [3.0, 3.0]
    assert set(result.acknowledged) == {"c00000", "c00001", "c00002"}
    assert set(result.acknowledged.values()) == fake.members
    assert result.rejected == {}
    assert result.requests == 5


def test_requests_carry_the_key_the_revision_and_the_json_api_media_type(klaviyo, monkeypatch):
    _, base_url = klaviyo
    seen: list[dict[str, str]] = []
    destination = _destination(base_url, monkeypatch)
    destination.client.session.hooks["response"].append(
        lambda response, *args, **kwargs: seen.append(dict(response.request.headers))
    )

    destination.send(Batch("vip", "add", _records(1)))

    sent = seen[0]
    assert sent["Authorization"] == f"Klaviyo-API-Key {API_KEY}"
    assert sent["revision"] == KLAVIYO_REVISION
    assert sent["Content-Type"] == JSON_API
    assert sent["Accept"] == JSON_API


def test_a_remove_takes_the_profiles_off_the_list_by_id(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    destination = _destination(base_url, monkeypatch)
    added = destination.send(Batch("vip", "add", _records(3))).acknowledged
    fake.received.clear()

    removals = [Record("remove", key, None, None, pid) for key, pid in list(added.items())[:2]]
    result = destination.send(Batch("vip", "remove", removals))

    assert fake.received == [
        (
            "DELETE",
            f"/api/lists/{LIST_ID}/relationships/profiles",
            {
                "data": [
                    {"type": "profile", "id": added["c00000"]},
                    {"type": "profile", "id": added["c00001"]},
                ]
            },
        )
    ]
    assert fake.members == {added["c00002"]}
    assert set(result.acknowledged) == {"c00000", "c00001"}
    assert fake.deletion_requests == []


def test_an_erase_removes_from_the_list_and_requests_a_data_privacy_deletion(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    destination = _destination(base_url, monkeypatch)
    added = destination.send(Batch("vip", "add", _records(2))).acknowledged
    fake.received.clear()

    result = destination.send(
        Batch("vip", "erase", [Record("erase", "c00000", None, None, added["c00000"])])
    )

    assert [(m, p) for m, p, _ in fake.received] == [
        ("DELETE", f"/api/lists/{LIST_ID}/relationships/profiles"),
        ("POST", "/api/data-privacy-deletion-jobs"),
    ]
    assert fake.received[1][2] == {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {
                "profile": {"data": {"type": "profile", "id": added["c00000"], "attributes": {}}}
            },
        }
    }
    assert fake.deletion_requests == [added["c00000"]]
    assert added["c00000"] not in fake.profiles
    assert result.acknowledged == {"c00000": added["c00000"]}


def test_a_change_updates_the_profile_in_place(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    destination = _destination(base_url, monkeypatch)
    added = destination.send(Batch("vip", "add", _records(1))).acknowledged
    fake.received.clear()

    change = Record(
        "change",
        "c00000",
        {"email": "person0@example.com", "city": "Utrecht"},
        "h2",
        added["c00000"],
    )
    result = destination.send(Batch("vip", "change", [change]))

    assert result.acknowledged == added
    assert fake.profiles[added["c00000"]]["location"] == {"city": "Utrecht"}
    assert fake.requests_to("DELETE", r".*") == 0  # same profile: nothing leaves the list


def test_erasing_a_profile_that_is_already_gone_is_acknowledged(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    destination = _destination(base_url, monkeypatch)

    result = destination.send(Batch("vip", "erase", [Record("erase", "c1", None, None, "01GONE")]))

    assert result.acknowledged == {"c1": "01GONE"}
    assert fake.requests_to("POST", "/api/data-privacy-deletion-jobs") == 1


def test_deletion_jobs_keep_to_their_own_rate_limit(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    monkeypatch.setenv("KLAVIYO_API_KEY", API_KEY)
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    config = KlaviyoDestinationConfig(list_id=LIST_ID, base_url=base_url)
    destination = KlaviyoDestination(config, client=_client([]), sleep=sleep, clock=lambda: now[0])
    added = destination.send(Batch("vip", "add", _records(5))).acknowledged
    sleeps.clear()

    erasures = [Record("erase", key, None, None, pid) for key, pid in added.items()]
    destination.send(Batch("vip", "erase", erasures))

    # A burst of 3, then one a second (Klaviyo: burst 3/s, steady 60/min).
    assert sum(sleeps) == pytest.approx(2.0)
    assert len(fake.deletion_requests) == 5


@pytest.mark.parametrize("size", [1, 10, 23, 10_000])
def test_batches_use_the_minimum_number_of_requests(klaviyo, monkeypatch, size):
    fake, base_url = klaviyo
    destination = _destination(base_url, monkeypatch, client_options={"timeout": 30.0})
    assert destination.max_batch_size == 10_000

    added = destination.send(Batch("vip", "add", _records(size)))

    # One job, one poll (complete), the job's profiles 100 a page.
    assert added.requests == 2 + math.ceil(size / 100)
    assert len(added.acknowledged) == size
    assert len(fake.members) == size

    removals = [Record("remove", key, None, None, pid) for key, pid in added.acknowledged.items()]
    removed = destination.send(Batch("vip", "remove", removals))

    assert removed.requests == math.ceil(size / 1000)
    assert fake.members == set()


def test_import_errors_become_rejections_with_klaviyos_detail(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    records = _records(3)
    records[1] = Record("add", "c00001", {"email": "not-an-email"}, "h1")
    records.append(Record("add", "c00009", {"first_name": "No identifier"}, "h9"))

    result = _destination(base_url, monkeypatch).send(Batch("vip", "add", records))

    assert set(result.acknowledged) == {"c00000", "c00002"}
    assert result.rejected["c00001"] == "Invalid input.: Invalid email address: not-an-email"
    assert "neither an email nor a phone" in result.rejected["c00009"]
    assert fake.requests_to("GET", r".*/import-errors") == 1
    assert fake.imported_keys()["c00009"] == 0


def test_an_unknown_job_outcome_is_never_acknowledged(klaviyo, monkeypatch):
    fake, base_url = klaviyo
    fake.polls_before_complete = 10
    destination = _destination(
        base_url, monkeypatch, poll_interval_seconds=1.0, max_poll_seconds=3.0
    )

    with pytest.raises(DestinationError, match="still processing"):
        destination.send(Batch("vip", "add", _records(1)))


def test_a_refused_key_fails_the_batch_without_leaking_it(klaviyo, monkeypatch):
    _, base_url = klaviyo
    destination = _destination(base_url, monkeypatch)
    destination.credentials = Credentials({"api_key": "pk_wrong_key_value"})
    destination.client.add_secret("pk_wrong_key_value")

    with pytest.raises(DestinationError, match="HTTP 401") as raised:
        destination.send(Batch("vip", "add", _records(1)))

    assert "pk_wrong_key_value" not in str(raised.value)


def test_defaults_are_klaviyos_documented_limits():
    config = KlaviyoDestinationConfig(list_id=LIST_ID)
    assert config.max_batch_size == 10_000
    assert config.rate_limit_per_second == pytest.approx(150 / 60)
    assert config.deletion_rate_limit_per_second == pytest.approx(1.0)
    assert config.base_url == "https://a.klaviyo.com"
    assert config.revision == KLAVIYO_REVISION


def test_an_invalid_option_fails_at_load_naming_the_sync_and_the_field():
    document = {
        "syncs": [
            {
                "name": "vip_klaviyo",
                "source": "segments.seg_vip",
                "fields": {"email": "email"},
                "destination": {
                    "type": "klaviyo",
                    "options": {"list_id": LIST_ID, "max_batch_size": 20_000},
                },
            }
        ]
    }
    with pytest.raises(SyncConfigError, match=r"sync 'vip_klaviyo'.*max_batch_size"):
        parse_syncs(document)
    document["syncs"][0]["destination"]["options"] = {"list_id": LIST_ID, "api_key": "x"}
    with pytest.raises(SyncConfigError, match=r"sync 'vip_klaviyo'.*api_key"):
        parse_syncs(document)


# -- through the engine --------------------------------------------------------------------

CUSTOMERS = 40


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    opened = vip_warehouse(tmp_path, 40)
    yield opened
    opened.close()


def _desired(warehouse: DuckDBWarehouse) -> set[str]:
    return set(desired_rows(warehouse))


def _sync(base_url: str, **overrides: Any) -> SyncConfig:
    settings = {
        "name": "vip_klaviyo",
        "source": "segments.seg_vip",
        "fields": {"email": "email", "first_name": "first_name", "country": "country"},
        "batch_size": 10,
        "secret_env": ["KLAVIYO_API_KEY"],
        "destination": {
            "type": "klaviyo",
            "options": {"list_id": LIST_ID, "base_url": base_url, "poll_interval_seconds": 0.01},
        },
    }
    return SyncConfig(**(settings | overrides))


def _built(sync: SyncConfig, monkeypatch, **client_options: Any) -> KlaviyoDestination:
    monkeypatch.setenv("KLAVIYO_API_KEY", API_KEY)
    destination = build_destination(sync)
    destination.client = _client([], **client_options)
    destination.client.add_secret(API_KEY)
    destination.sleep = lambda seconds: None
    return destination


def test_a_sync_killed_mid_stream_resumes_to_exactly_the_desired_list(
    klaviyo, warehouse, monkeypatch
):
    fake, base_url = klaviyo
    sync = _sync(base_url)
    fake.fail_after_jobs = 2

    with pytest.raises(RetriesExhausted):
        run_sync(sync, warehouse, _built(sync, monkeypatch, max_attempts=2))

    acknowledged = {
        row[0] for row in warehouse.fetchall("select record_key from reverse_etl.sync_state")
    }
    assert len(acknowledged) == 20
    fake.failing, fake.fail_after_jobs = False, None
    result = run_sync(sync, warehouse, _built(sync, monkeypatch))

    desired = _desired(warehouse)
    assert result.status == "success"
    assert fake.member_external_ids() == desired
    imported = fake.imported_keys()
    assert all(imported[key] == 1 for key in acknowledged), "an acknowledged record was resent"
    assert set(imported) == desired
    state = dict(
        warehouse.fetchall("select record_key, destination_id from reverse_etl.sync_state")
    )
    assert {fake.profiles[pid]["external_id"] for pid in state.values()} == desired


def test_consent_holdouts_and_erasure_through_the_engine(klaviyo, warehouse, monkeypatch, caplog):
    fake, base_url = klaviyo
    sync = _sync(base_url)
    with caplog.at_level(logging.DEBUG):
        run_sync(sync, warehouse, _built(sync, monkeypatch))
        holdouts = {
            row[0]
            for row in warehouse.fetchall(
                "select customer_id from segments.seg_vip where is_holdout"
            )
        }
        no_consent = {
            row[0]
            for row in warehouse.fetchall(
                "select customer_id from segments.seg_vip where not has_consent"
            )
        }
        assert not (holdouts | no_consent) & set(fake.imported_keys())
        erased_id = dict(
            warehouse.fetchall("select record_key, destination_id from reverse_etl.sync_state")
        )
        warehouse.execute(
            "update segments.seg_vip set has_consent = false where customer_id = 'c000'"
        )
        warehouse.execute("update core.customers set is_erased = true where customer_id = 'c001'")

        result = run_sync(sync, warehouse, _built(sync, monkeypatch))

    assert result.removed == 2
    assert fake.member_external_ids() == _desired(warehouse)
    assert fake.deletion_requests == [erased_id["c001"]]
    assert erased_id["c000"] in fake.profiles  # withdrawn consent: off the list, not deleted
    assert API_KEY not in caplog.text
    for table in ("sync_state", "sync_runs", "sync_rejections"):
        assert API_KEY not in repr(warehouse.fetchall(f"select * from reverse_etl.{table}"))


def test_rejections_are_retried_next_run_then_dead_lettered(klaviyo, warehouse, monkeypatch):
    fake, base_url = klaviyo
    warehouse.execute("update segments.seg_vip set email = 'broken' where customer_id = 'c000'")
    sync = _sync(base_url, max_rejection_attempts=2)

    runs = [run_sync(sync, warehouse, _built(sync, monkeypatch)) for _ in range(3)]

    assert [run.failed for run in runs] == [1, 1, 0]
    assert fake.imported_keys()["c000"] == 2
    assert warehouse.fetchall(
        "select reason, attempts, is_dead_letter from reverse_etl.sync_rejections"
    ) == [("Invalid input.: Invalid email address: ***", 2, True)]  # the value echoed: hidden


def test_a_failed_run_records_a_redacted_error(klaviyo, warehouse, monkeypatch, caplog):
    _, base_url = klaviyo
    sync = _sync(base_url)
    destination = _built(sync, monkeypatch)
    destination.credentials = Credentials({"api_key": API_KEY + "-revoked"})

    with caplog.at_level(logging.DEBUG), pytest.raises(DestinationError):
        run_sync(sync, warehouse, destination)

    error = warehouse.fetchall("select status, error from reverse_etl.sync_runs")[0]
    assert error[0] == "failed"
    assert "HTTP 401" in error[1]
    assert API_KEY not in error[1]
    assert API_KEY not in caplog.text


def test_a_person_removed_earlier_then_erased_gets_exactly_one_deletion_across_a_crash(
    klaviyo, warehouse, monkeypatch
):
    fake, base_url = klaviyo
    options = {"list_id": LIST_ID, "base_url": base_url, "poll_interval_seconds": 0.01}
    sync = _sync(
        base_url,
        batch_size=2,
        destination={
            "type": "klaviyo",
            "options": options | {"deletion_rate_limit_per_second": 1000},
        },
    )
    run_sync(sync, warehouse, _built(sync, monkeypatch))
    profiles = dict(
        warehouse.fetchall("select record_key, destination_id from reverse_etl.sync_state")
    )
    # Consent withdrawn by four people and one leaves the segment: all taken off the list,
    # none deleted.
    withdrawn, left = ["c000", "c001", "c002", "c005"], "c006"
    warehouse.execute(
        "update segments.seg_vip set has_consent = false where list_contains(?, customer_id)",
        [withdrawn],
    )
    warehouse.execute("delete from segments.seg_vip where customer_id = ?", [left])
    run_sync(sync, warehouse, _built(sync, monkeypatch))
    assert not {profiles[key] for key in [*withdrawn, left]} & fake.members
    assert fake.deletion_requests == []
    # All five, and one person still on the list, are erased; the fake fails after three
    # deletions, in the middle of the second batch of two.
    erased = [*withdrawn, left, "c008"]
    warehouse.execute(
        "update core.customers set is_erased = true where list_contains(?, customer_id)",
        [erased],
    )
    fake.fail_after_deletions = 3

    with pytest.raises(RetriesExhausted):
        run_sync(sync, warehouse, _built(sync, monkeypatch, max_attempts=2))
    fake.failing, fake.fail_after_deletions = False, None
    resumed = run_sync(sync, warehouse, _built(sync, monkeypatch))
    after = run_sync(sync, warehouse, _built(sync, monkeypatch))

    assert resumed.status == after.status == "success"
    assert sorted(fake.deletion_requests) == sorted(profiles[key] for key in erased)
    assert Counter(fake.deletion_requests).most_common(1)[0][1] == 1
    # The batch acknowledged before the crash was not asked again; only the one in flight was
    # (its repeated request answered 404: already deleted).
    posted = Counter(
        body["data"]["attributes"]["profile"]["data"]["id"]
        for method, path, body in fake.received
        if method == "POST" and path == "/api/data-privacy-deletion-jobs"
    )
    assert posted[profiles["c000"]] == posted[profiles["c001"]] == 1
    assert after.removed == 0
    assert fake.member_external_ids() == _desired(warehouse)
    assert warehouse.fetchall(
        "select count(*) from reverse_etl.sync_recipients"
        " where erased_at is not null and destination_id is null"
    ) == [(len(erased),)]
