"""Google Ads Customer Match against a local server that answers like the Google Ads REST API."""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from reverse_etl.config import SyncConfig, SyncConfigError, parse_syncs
from reverse_etl.destinations import build_destination
from reverse_etl.destinations.base import Batch, DestinationError, Record
from reverse_etl.destinations.google_ads import (
    GoogleAdsCustomerMatchConfig,
    GoogleAdsCustomerMatchDestination,
    chunk_by_identifiers,
    google_identifiers,
)
from reverse_etl.destinations.hashing import sha256_hex
from reverse_etl.engine import run_sync
from reverse_etl.warehouse import DuckDBWarehouse
from tests.reverse_etl.support import JsonFake, Received, quiet_client, serving, vip_warehouse

ACCESS_TOKEN = "ya29.google-access-token-0123456789"
DEVELOPER_TOKEN = "dev-token-ABCDEFGHIJ"
CUSTOMER = "1234567890"
MANAGER = "9876543210"
USER_LIST = "5550001"
VERSION = "v26"
NOW = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)
FIELDS = {
    "email": "email",
    "phone": "phone",
    "first_name": "first_name",
    "last_name": "last_name",
    "zip": "zip",
    "country": "country",
}
HEX64 = re.compile(r"^[0-9a-f]{64}$")
FAILURE_TYPE = f"type.googleapis.com/google.ads.googleads.{VERSION}.errors.GoogleAdsFailure"


def google_error(http: int, status: str, message: str, *errors: dict[str, Any]) -> dict:
    details = [{"@type": FAILURE_TYPE, "errors": list(errors), "requestId": "req-1"}]
    return {"error": {"code": http, "message": message, "status": status, "details": details}}


@dataclass
class Job:
    name: str
    metadata: dict[str, Any]
    status: str = "PENDING"
    operations: list[tuple[str, dict[str, Any]]] | None = None
    polls: int = 0


class FakeGoogleAds(JsonFake):
    """Offline user data jobs and a Customer Match list, as the REST API answers them."""

    content_type = "application/json; charset=UTF-8"

    def __init__(self) -> None:
        super().__init__()
        self.members: dict[int, list[dict[str, Any]]] = {}  # person -> identifiers
        self.index: dict[str, int] = {}  # identifier JSON -> person
        self.numbers = itertools.count(1)
        self.jobs: dict[str, Job] = {}
        self.invalid: dict[str, str] = {}  # hash -> OfflineUserDataJobError
        self.polls_until_done = 0
        self.fail_jobs = False
        self.fail_after: int | None = None  # successful requests before a hard outage
        self.successes = 0

    def answer(self, request: Received) -> tuple[int, dict[str, str], Any, float]:
        if self.script:
            return self.script.pop(0)
        if self.fail_after is not None and self.successes >= self.fail_after:
            return 503, {}, google_error(503, "UNAVAILABLE", "The service is unavailable."), 0.0
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            error = {"errorCode": {"authenticationError": "OAUTH_TOKEN_INVALID"}}
            body = google_error(401, "UNAUTHENTICATED", "Request had invalid credentials.", error)
            return 401, {}, body, 0.0
        if request.headers.get("developer-token") != DEVELOPER_TOKEN:
            error = {"errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"}}
            return 401, {}, google_error(401, "UNAUTHENTICATED", "Bad token.", error), 0.0
        prefix = f"/{VERSION}/customers/{CUSTOMER}"
        path, body = request.path, request.json
        if request.method != "POST" or not path.startswith(prefix):
            return 404, {}, google_error(404, "NOT_FOUND", "Not found"), 0.0
        route = path.removeprefix(f"/{VERSION}/")
        if route == f"customers/{CUSTOMER}/offlineUserDataJobs:create":
            answer = self._create(body)
        elif route.endswith(":addOperations"):
            answer = self._add_operations(route.removesuffix(":addOperations"), body)
        elif route.endswith(":run"):
            answer = self._run(route.removesuffix(":run"))
        elif route == f"customers/{CUSTOMER}/googleAds:search":
            answer = self._search(body["query"])
        else:
            answer = 404, google_error(404, "NOT_FOUND", "Unknown method")
        if answer[0] == 200:
            self.successes += 1
        return answer[0], {}, answer[1], 0.0

    def _invalid_argument(self, message: str, code: dict[str, str]) -> tuple[int, dict]:
        error = {"errorCode": code, "message": message}
        return 400, google_error(
            400, "INVALID_ARGUMENT", "Request contains an invalid argument.", error
        )

    def _create(self, body: dict[str, Any]) -> tuple[int, dict]:
        job = body["job"]
        metadata = job.get("customerMatchUserListMetadata", {})
        if job.get("type") != "CUSTOMER_MATCH_USER_LIST" or metadata.get("userList") != (
            f"customers/{CUSTOMER}/userLists/{USER_LIST}"
        ):
            return self._invalid_argument(
                "bad job", {"offlineUserDataJobError": "INVALID_USER_LIST_ID"}
            )
        name = f"customers/{CUSTOMER}/offlineUserDataJobs/{next(self.numbers)}"
        self.jobs[name] = Job(name, metadata, operations=[])
        return 200, {"resourceName": name}

    def _add_operations(self, name: str, body: dict[str, Any]) -> tuple[int, dict]:
        job = self.jobs.get(name)
        if job is None or job.status != "PENDING":
            return self._invalid_argument(
                "job not pending", {"offlineUserDataJobError": "INVALID_JOB_STATUS"}
            )
        operations = body.get("operations") or []
        identifiers = sum(len(next(iter(op.values()))["userIdentifiers"]) for op in operations)
        if identifiers > 100_000:
            return self._invalid_argument(
                "too many", {"userDataError": "TOO_MANY_USER_IDENTIFIERS"}
            )
        errors = []
        for index, operation in enumerate(operations):
            ((kind, user_data),) = operation.items()
            assert kind in ("create", "remove")
            bad = None
            for identifier in user_data["userIdentifiers"]:
                ((field, value),) = identifier.items()
                values = (
                    [value]
                    if field != "addressInfo"
                    else [value["hashedFirstName"], value["hashedLastName"]]
                )
                bad = bad or next(
                    (v for v in values if not HEX64.match(v) or v in self.invalid), None
                )
            if bad is not None:
                errors.append(
                    {
                        "errorCode": {
                            "offlineUserDataJobError": self.invalid.get(
                                bad, "INVALID_SHA256_FORMAT"
                            )
                        },
                        "message": "The SHA256 encoded value is malformed.",
                        "location": {
                            "fieldPathElements": [
                                {"fieldName": "operations", "index": index},
                                {"fieldName": kind},
                                {"fieldName": "user_identifiers", "index": 0},
                            ]
                        },
                    }
                )
                continue
            job.operations.append((kind, user_data))
        if not body.get("enablePartialFailure") and errors:
            return self._invalid_argument("failed", errors[0]["errorCode"])
        if errors:
            message = f"Multiple errors in 'details'. First error: {errors[0]['message']}"
            status = {
                "code": 3,
                "message": message,
                "details": [{"@type": FAILURE_TYPE, "errors": errors, "requestId": "req-2"}],
            }
            return 200, {"partialFailureError": status}
        return 200, {}

    def _run(self, name: str) -> tuple[int, dict]:
        job = self.jobs.get(name)
        if job is None or job.status != "PENDING":
            return self._invalid_argument(
                "cannot run", {"offlineUserDataJobError": "INVALID_JOB_STATUS"}
            )
        job.status = "RUNNING"
        return 200, {"name": f"customers/{CUSTOMER}/operations/{name.rsplit('/', 1)[1]}"}

    def _search(self, query: str) -> tuple[int, dict]:
        match = re.search(r"offline_user_data_job.resource_name = '([^']+)'", query)
        job = self.jobs.get(match.group(1)) if match else None
        if job is None:
            return 200, {}
        if job.status == "RUNNING":
            job.polls += 1
            if job.polls > self.polls_until_done:
                job.status = "FAILED" if self.fail_jobs else "SUCCESS"
                if job.status == "SUCCESS":
                    for kind, user_data in job.operations:
                        self._apply(kind, user_data["userIdentifiers"])
        row = {"resourceName": job.name, "status": job.status}
        if job.status == "FAILED":
            row["failureReason"] = "UNSPECIFIED"
        return 200, {
            "results": [{"offlineUserDataJob": row}],
            "fieldMask": "offlineUserDataJob.resourceName,offlineUserDataJob.status,"
            "offlineUserDataJob.failureReason",
        }

    def _apply(self, kind: str, identifiers: list[dict[str, Any]]) -> None:
        keys = [json.dumps(identifier, sort_keys=True) for identifier in identifiers]
        for key in keys:
            person = self.index.get(key)
            if person is not None and person in self.members:
                for old in self.members.pop(person):
                    self.index.pop(json.dumps(old, sort_keys=True), None)
        if kind == "create":
            person = next(self.numbers)
            self.members[person] = identifiers
            self.index.update((key, person) for key in keys)

    def email_hashes(self) -> set[str]:
        return {
            identifier["hashedEmail"]
            for identifiers in self.members.values()
            for identifier in identifiers
            if "hashedEmail" in identifier
        }

    def applied(self, kind: str) -> list[str]:
        """Email hashes of the operations of the jobs that succeeded, in order."""
        return [
            identifier["hashedEmail"]
            for job in self.jobs.values()
            if job.status == "SUCCESS"
            for operation_kind, user_data in job.operations
            if operation_kind == kind
            for identifier in user_data["userIdentifiers"]
            if "hashedEmail" in identifier
        ]

    def routes(self) -> list[str]:
        return [request.path.rsplit("/", 1)[-1].split(":")[-1] for request in self.received]


@pytest.fixture
def ads(monkeypatch) -> Iterator[FakeGoogleAds]:
    monkeypatch.setenv("GOOGLE_ADS_ACCESS_TOKEN", ACCESS_TOKEN)
    monkeypatch.setenv("GOOGLE_ADS_DEVELOPER_TOKEN", DEVELOPER_TOKEN)
    with serving(FakeGoogleAds()) as fake:
        yield fake


_client = quiet_client


def _options(ads: FakeGoogleAds, **overrides: Any) -> dict[str, Any]:
    options = {
        "customer_id": CUSTOMER,
        "user_list_id": USER_LIST,
        "access_token_env": "GOOGLE_ADS_ACCESS_TOKEN",
        "developer_token_env": "GOOGLE_ADS_DEVELOPER_TOKEN",
        "api_version": VERSION,
        "base_url": ads.base_url,
    }
    return options | overrides


def _destination(ads, sleeps=None, polls=None, client_options=None, **overrides):
    config = GoogleAdsCustomerMatchConfig(**_options(ads, **overrides))
    client = _client(sleeps if sleeps is not None else [], **(client_options or {}))
    poll_sleeps = polls if polls is not None else []
    return GoogleAdsCustomerMatchDestination(config, client=client, sleep=poll_sleeps.append)


def _person(number: int) -> dict[str, Any]:
    return {
        "email": f"Person{number}@Example.com",
        "phone": f"+31 6 {10000000 + number}",
        "first_name": f"First{number}",
        "last_name": f"Last{number}",
        "zip": "1017 CE",
        "country": "nl",
    }


def _batch(operation: str, numbers, destination_ids=None) -> Batch:
    records = []
    for number in numbers:
        payload = None if operation in ("remove", "erase") else _person(number)
        destination_id = (destination_ids or {}).get(f"c{number:03d}")
        records.append(Record(operation, f"c{number:03d}", payload, "h", destination_id))
    return Batch("vip_google", operation, records)


# Configuration ----------------------------------------------------------------------------


def test_an_invalid_option_fails_at_load_naming_the_sync_and_the_field():
    options = {
        "customer_id": CUSTOMER,
        "user_list_id": USER_LIST,
        "access_token_env": "GOOGLE_ADS_ACCESS_TOKEN",
        "developer_token_env": "GOOGLE_ADS_DEVELOPER_TOKEN",
    }
    document = {
        "syncs": [
            {
                "name": "vip_google",
                "source": "segments.seg_vip",
                "fields": {"email": "email"},
                "destination": {
                    "type": "google_ads_customer_match",
                    "options": options | {"ad_user_data_consent": "YES"},
                },
            }
        ]
    }
    with pytest.raises(SyncConfigError, match=r"sync 'vip_google'.*ad_user_data_consent"):
        parse_syncs(document)
    document["syncs"][0]["destination"]["options"] = options | {"user_list": "123"}
    with pytest.raises(SyncConfigError, match=r"sync 'vip_google'.*user_list"):
        parse_syncs(document)
    document["syncs"][0]["destination"]["options"] = options | {"max_batch_size": 0}
    with pytest.raises(SyncConfigError, match=r"sync 'vip_google'.*max_batch_size"):
        parse_syncs(document)


def test_defaults_and_customer_ids_with_dashes(ads):
    config = GoogleAdsCustomerMatchConfig(
        **_options(ads, customer_id="123-456-7890", login_customer_id="987-654-3210")
    )
    assert (config.customer_id, config.login_customer_id) == (CUSTOMER, MANAGER)
    given = {k: v for k, v in _options(ads).items() if k not in ("base_url", "api_version")}
    defaults = GoogleAdsCustomerMatchConfig(**given)
    assert defaults.base_url == "https://googleads.googleapis.com"
    assert defaults.api_version == VERSION
    assert defaults.max_batch_size == 10_000
    assert defaults.max_identifiers_per_request == 100_000
    sync = SyncConfig(
        name="vip_google",
        source="segments.seg_vip",
        fields={"email": "email"},
        destination={"type": "google_ads_customer_match", "options": _options(ads)},
    )
    assert build_destination(sync).max_batch_size == 10_000


def test_identifiers_are_chunked_to_the_per_request_limit():
    items = [(f"c{n}", {"hashedEmail": "e", "hashedPhoneNumber": "p"}) for n in range(5)]
    chunks = list(chunk_by_identifiers(items, 5))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]


# Request shapes ---------------------------------------------------------------------------


def test_an_addition_creates_fills_runs_and_polls_one_job(ads):
    destination = _destination(ads, login_customer_id=MANAGER)

    result = destination.send(_batch("add", [1, 2]))

    create, add, run, search = ads.received
    prefix = f"/{VERSION}/customers/{CUSTOMER}"
    assert [r.method for r in ads.received] == ["POST"] * 4
    assert create.path == f"{prefix}/offlineUserDataJobs:create"
    for request in ads.received:
        assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert request.headers["developer-token"] == DEVELOPER_TOKEN
        assert request.headers["login-customer-id"] == MANAGER
        assert request.headers["Content-Type"] == "application/json"
    assert create.json == {
        "job": {
            "type": "CUSTOMER_MATCH_USER_LIST",
            "customerMatchUserListMetadata": {
                "userList": f"customers/{CUSTOMER}/userLists/{USER_LIST}",
                "consent": {"adUserData": "GRANTED", "adPersonalization": "GRANTED"},
            },
        }
    }
    job = f"customers/{CUSTOMER}/offlineUserDataJobs/1"
    assert add.path == f"/{VERSION}/{job}:addOperations"
    assert add.json["enablePartialFailure"] is True
    assert add.json["operations"][0] == {
        "create": {
            "userIdentifiers": [
                {"hashedEmail": sha256_hex("person1@example.com")},
                {"hashedPhoneNumber": sha256_hex("+31610000001")},
                {
                    "addressInfo": {
                        "hashedFirstName": sha256_hex("first1"),
                        "hashedLastName": sha256_hex("last1"),
                        "countryCode": "NL",
                        "postalCode": "1017 CE",
                    }
                },
            ]
        }
    }
    assert run.path == f"/{VERSION}/{job}:run"
    assert run.json == {}
    assert search.path == f"{prefix}/googleAds:search"
    assert f"offline_user_data_job.resource_name = '{job}'" in search.json["query"]
    assert "offline_user_data_job.status" in search.json["query"]
    assert result.requests == 4
    stored = json.loads(result.acknowledged["c001"])
    assert stored == google_identifiers(_person(1))
    assert result.acknowledged["c001"] == json.dumps(stored, sort_keys=True, separators=(",", ":"))
    assert ads.email_hashes() == {sha256_hex(f"person{n}@example.com") for n in (1, 2)}


def test_no_login_customer_id_header_without_a_manager_account(ads):
    _destination(ads).send(_batch("add", [1]))
    assert all("login-customer-id" not in r.headers for r in ads.received)


@pytest.mark.parametrize("operation", ["remove", "erase"])
def test_removal_and_erasure_run_a_job_of_remove_operations(ads, operation):
    destination = _destination(ads)
    added = destination.send(_batch("add", [1, 2, 3]))

    result = destination.send(_batch(operation, [1, 3], added.acknowledged))

    add = ads.received[-3]
    assert [list(op) for op in add.json["operations"]] == [["remove"], ["remove"]]
    stored = json.loads(added.acknowledged["c001"])
    assert add.json["operations"][0]["remove"] == {
        "userIdentifiers": [
            {"hashedEmail": stored["hashedEmail"]},
            {"hashedPhoneNumber": stored["hashedPhoneNumber"]},
            {"addressInfo": stored["addressInfo"]},
        ]
    }
    assert set(result.acknowledged) == {"c001", "c003"}
    assert ads.email_hashes() == {sha256_hex("person2@example.com")}
    assert ads.routes()[-4:] == [
        "create",
        "addOperations",
        "run",
        "search",
    ]
    assert len(ads.received) == 8, "no deletion API besides the removal job"


def test_a_change_of_email_removes_the_old_identity_in_a_job_before_adding(ads):
    destination = _destination(ads)
    added = destination.send(_batch("add", [1, 2]))
    moved = _person(1) | {"email": "new.address@example.com"}
    batch = Batch(
        "vip_google",
        "change",
        [
            Record("change", "c001", moved, "h2", added.acknowledged["c001"]),
            Record("change", "c002", _person(2), "h2", added.acknowledged["c002"]),
        ],
    )

    result = destination.send(batch)

    assert result.requests == 8
    removal = ads.received[5].json["operations"]
    assert removal == [
        {"remove": {"userIdentifiers": [{"hashedEmail": sha256_hex("person1@example.com")}]}}
    ]
    creation = ads.received[9].json["operations"]
    assert [list(op) for op in creation] == [["create"], ["create"]]
    assert ads.email_hashes() == {
        sha256_hex("new.address@example.com"),
        sha256_hex("person2@example.com"),
    }


def test_partial_failures_become_rejections_by_operation_index(ads):
    ads.invalid[sha256_hex("person2@example.com")] = "INVALID_SHA256_FORMAT"

    result = _destination(ads).send(_batch("add", [1, 2, 3]))

    assert result.rejected == {
        "c002": "offlineUserDataJobError.INVALID_SHA256_FORMAT:"
        " The SHA256 encoded value is malformed."
    }
    assert set(result.acknowledged) == {"c001", "c003"}
    assert ads.email_hashes() == {sha256_hex(f"person{n}@example.com") for n in (1, 3)}


def test_a_job_whose_operations_all_failed_is_not_run(ads):
    ads.invalid[sha256_hex("person1@example.com")] = "INVALID_SHA256_FORMAT"
    result = _destination(ads).send(_batch("add", [1]))
    assert set(result.rejected) == {"c001"}
    assert ads.routes() == ["create", "addOperations"]


def test_operations_are_split_by_the_identifier_limit_and_indices_map_back(ads):
    ads.invalid[sha256_hex("person4@example.com")] = "INVALID_SHA256_FORMAT"

    result = _destination(ads, max_identifiers_per_request=6).send(_batch("add", range(5)))

    adds = [r for r in ads.received if r.path.endswith(":addOperations")]
    assert [len(r.json["operations"]) for r in adds] == [2, 2, 1]
    assert set(result.rejected) == {"c004"}
    assert result.requests == 6


def test_a_record_without_identifiers_is_rejected_locally(ads):
    batch = Batch("vip_google", "add", [Record("add", "c001", {"first_name": "Ann"}, "h")])
    result = _destination(ads).send(batch)
    assert "no usable identifier" in result.rejected["c001"]
    assert ads.received == []


def test_the_job_is_polled_with_growing_waits_until_it_succeeds(ads):
    ads.polls_until_done = 3
    polls: list[float] = []

    result = _destination(ads, polls=polls, poll_interval_seconds=5).send(_batch("add", [1]))

    assert polls == [5, 10, 20]
    assert result.requests == 7
    assert set(result.acknowledged) == {"c001"}


def test_a_failed_job_refuses_the_batch(ads):
    ads.fail_jobs = True
    with pytest.raises(DestinationError, match="FAILED"):
        _destination(ads).send(_batch("add", [1]))


def test_a_job_that_never_finishes_times_out(ads):
    ads.polls_until_done = 1000
    polls: list[float] = []
    destination = _destination(
        ads,
        polls=polls,
        poll_interval_seconds=10,
        poll_max_interval_seconds=60,
        poll_timeout_seconds=300,
    )
    with pytest.raises(DestinationError, match="still RUNNING"):
        destination.send(_batch("add", [1]))
    assert sum(polls) >= 300
    assert max(polls) == 60


# Failures ---------------------------------------------------------------------------------


def test_a_429_waits_the_retry_after(ads):
    ads.respond(
        429,
        google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Too many requests.",
            {"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"}},
        ),
        {"Retry-After": "7"},
    )
    sleeps: list[float] = []

    result = _destination(ads, sleeps).send(_batch("add", [1]))

    assert sleeps == [7.0]
    assert result.requests == 5
    assert set(result.acknowledged) == {"c001"}


def test_concurrent_modification_and_quota_errors_are_retried(ads):
    ads.respond(
        409,
        google_error(
            409,
            "ABORTED",
            "Multiple requests were attempting to modify the same resource at once.",
            {"errorCode": {"databaseError": "CONCURRENT_MODIFICATION"}},
        ),
    )
    quota = google_error(
        400,
        "INVALID_ARGUMENT",
        "Quota.",
        {"errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"}},
    )
    quota["error"]["details"][0]["errors"][0]["details"] = {
        "quotaErrorDetails": {"retryDelay": "30s"}
    }
    ads.respond(400, quota)
    sleeps: list[float] = []

    result = _destination(ads, sleeps).send(_batch("add", [1]))

    assert sleeps == [0.5, 30.0]
    assert set(result.acknowledged) == {"c001"}


def test_a_burst_of_5xx_is_retried_with_backoff(ads):
    for _ in range(3):
        ads.respond(503, google_error(503, "UNAVAILABLE", "The service is unavailable."))
    sleeps: list[float] = []

    result = _destination(ads, sleeps).send(_batch("add", [1, 2]))

    assert sleeps == [0.5, 1.0, 2.0]
    assert result.requests == 7
    assert len(ads.members) == 2


def test_a_timeout_is_retried(ads):
    ads.respond(200, {}, delay=1.0)
    sleeps: list[float] = []

    destination = _destination(ads, sleeps, client_options={"timeout": 0.2})
    result = destination.send(_batch("add", [1]))

    assert len(sleeps) == 1
    assert result.requests == 5
    assert set(result.acknowledged) == {"c001"}


def test_an_authentication_error_refuses_the_batch_without_leaking_tokens(ads, monkeypatch):
    monkeypatch.setenv("GOOGLE_ADS_ACCESS_TOKEN", "expired-" + ACCESS_TOKEN)
    ads.respond(
        401,
        google_error(
            401,
            "UNAUTHENTICATED",
            f"Token expired-{ACCESS_TOKEN} / {DEVELOPER_TOKEN}",
            {
                "errorCode": {"authenticationError": "OAUTH_TOKEN_EXPIRED"},
                "message": "Oauth token is expired.",
            },
        ),
    )

    with pytest.raises(DestinationError) as raised:
        _destination(ads).send(_batch("add", [1]))

    message = str(raised.value)
    assert "401 UNAUTHENTICATED" in message
    assert "authenticationError.OAUTH_TOKEN_EXPIRED" in message
    assert ACCESS_TOKEN not in message
    assert DEVELOPER_TOKEN not in message


# Through the engine -----------------------------------------------------------------------


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[DuckDBWarehouse]:
    opened = vip_warehouse(tmp_path, 47)
    yield opened
    opened.close()


def _sync(ads: FakeGoogleAds, **overrides: Any) -> SyncConfig:
    settings = {
        "name": "vip_google",
        "source": "segments.seg_vip",
        "fields": FIELDS,
        "destination": {"type": "google_ads_customer_match", "options": _options(ads)},
        "secret_env": ["GOOGLE_ADS_ACCESS_TOKEN", "GOOGLE_ADS_DEVELOPER_TOKEN"],
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
    """Emails, phones and names; Google requires country and postal code unhashed."""
    values: set[str] = set()
    for email, phone, first_name, last_name in warehouse.fetchall(
        "select email, phone, first_name, last_name from segments.seg_vip"
    ):
        values |= {email, email.lower(), phone, re.sub(r"\D", "", phone), first_name}
        values |= {first_name.lower(), last_name, last_name.lower()}
    return values


def _assert_only_hashes_left(ads: FakeGoogleAds, raw_values: set[str]) -> None:
    assert ads.received
    for request in ads.received:
        for text in (request.path, json.dumps(request.headers), request.body.decode()):
            for value in raw_values:
                assert value not in text, f"raw {value!r} sent to {request.path}"


@pytest.mark.parametrize(("batch_size", "members"), [(1, 47), (10, 47), (23, 47), (10_000, 14_700)])
def test_batches_need_exactly_the_minimum_number_of_requests(ads, tmp_path, batch_size, members):
    warehouse = vip_warehouse(tmp_path, members)
    desired = len(_desired_email_hashes(warehouse))

    result = run_sync(_sync(ads, batch_size=batch_size), warehouse, _destination(ads))

    jobs = -(-desired // batch_size)
    assert result.added == desired
    assert len(ads.received) == result.requests == 4 * jobs  # create, add, run, poll
    assert len(ads.jobs) == jobs
    assert max(len(job.operations) for job in ads.jobs.values()) <= batch_size
    assert ads.email_hashes() == _desired_email_hashes(warehouse)
    warehouse.close()


def test_holdouts_and_members_without_consent_are_never_sent_and_only_hashes_leave(ads, warehouse):
    run_sync(_sync(ads), warehouse, _destination(ads))

    excluded = warehouse.fetchall(
        "select email from segments.seg_vip where is_holdout or not has_consent"
    )
    assert excluded
    assert not set(ads.applied("create")) & {sha256_hex(row[0].lower()) for row in excluded}
    assert ads.email_hashes() == _desired_email_hashes(warehouse)
    _assert_only_hashes_left(ads, _raw_values(warehouse))


def test_changes_removals_consent_withdrawal_and_erasure_converge(ads, warehouse):
    destination = _destination(ads)
    run_sync(_sync(ads), warehouse, destination)
    raw = _raw_values(warehouse) | {"moved@example.com"}
    warehouse.execute(
        "update segments.seg_vip set email = 'moved@example.com' where customer_id = 'c000'"
    )
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c002'")
    warehouse.execute("update core.customers set is_erased = true where customer_id = 'c005'")

    result = run_sync(_sync(ads), warehouse, destination)

    assert (result.changed, result.removed) == (1, 3)
    assert ads.email_hashes() == _desired_email_hashes(warehouse)
    removed = set(ads.applied("remove"))
    assert {sha256_hex(f"person{n}@example.com") for n in (0, 1, 2, 5)} <= removed
    _assert_only_hashes_left(ads, raw)


def test_rejected_records_are_retried_next_run_then_dead_lettered(ads, warehouse):
    bad = sha256_hex("person0@example.com")
    ads.invalid[bad] = "INVALID_SHA256_FORMAT"
    sync = _sync(ads, max_rejection_attempts=2)

    runs = [run_sync(sync, warehouse, _destination(ads)) for _ in range(3)]

    assert [run.failed for run in runs] == [1, 1, 0]
    rejection = warehouse.fetchall(
        "select record_key, operation, reason, attempts, is_dead_letter"
        " from reverse_etl.sync_rejections"
    )
    reason = "offlineUserDataJobError.INVALID_SHA256_FORMAT: The SHA256 encoded value is malformed."
    assert rejection == [("c000", "add", reason, 2, True)]
    assert bad not in ads.email_hashes()
    sent = sum(bad in r.body.decode() for r in ads.received if r.path.endswith(":addOperations"))
    assert sent == 2


def test_secrets_stay_out_of_logs_state_run_log_and_errors(ads, warehouse, caplog):
    ads.respond(503, google_error(503, "UNAVAILABLE", f"echo {ACCESS_TOKEN}"))
    ads.respond(
        403,
        google_error(
            403,
            "PERMISSION_DENIED",
            f"developer token {DEVELOPER_TOKEN} not approved",
            {"errorCode": {"authorizationError": "DEVELOPER_TOKEN_NOT_APPROVED"}},
        ),
    )

    with caplog.at_level(logging.DEBUG), pytest.raises(DestinationError) as raised:
        run_sync(_sync(ads), warehouse, _destination(ads))

    for secret in (ACCESS_TOKEN, DEVELOPER_TOKEN):
        assert secret not in str(raised.value)
        assert secret not in caplog.text
        for table in ("sync_state", "sync_runs", "sync_rejections"):
            assert secret not in repr(warehouse.fetchall(f"select * from reverse_etl.{table}"))
        for request in ads.received:
            assert secret not in request.path
    assert caplog.records
    error = warehouse.fetchall("select error from reverse_etl.sync_runs")[0][0]
    assert "DEVELOPER_TOKEN_NOT_APPROVED" in error
    assert "***" in error
