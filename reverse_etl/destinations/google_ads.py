"""Google Ads Customer Match: add and remove people of a user list through offline user data jobs.

Google Ads API over REST (`https://googleads.googleapis.com/{api_version}`, default v26),
headers `Authorization: Bearer <OAuth access token>`, `developer-token`, and
`login-customer-id` when a manager account is used (tokens read from the environment
variables the config names, redacted from every message). Each batch is one job:

1. `POST customers/{customer_id}/offlineUserDataJobs:create` with
   `{"job": {"type": "CUSTOMER_MATCH_USER_LIST", "customerMatchUserListMetadata":
   {"userList": "customers/{cid}/userLists/{user_list_id}", "consent": {"adUserData",
   "adPersonalization"}}}}` (the EU consent fields; only people with the sync's consent
   are ever sent, so both default to GRANTED);
2. `POST {job}:addOperations` with `{"enablePartialFailure": true, "operations": [{"create":
   {"userIdentifiers": [...]}}]}` (`remove` for removals and erasures), split so no request
   holds more than `max_identifiers_per_request` identifiers (Google's limit: 100,000 per
   request, 20 per operation; a record has at most 3). `partialFailureError` details are
   mapped back to records by the operation index of their `fieldPathElements` and become
   per-record rejections;
3. `POST {job}:run`, then poll the job's `status` with `customers/{cid}/googleAds:search`
   until SUCCESS (records not rejected are acknowledged) or FAILED (`DestinationError`),
   waiting `poll_interval_seconds`, doubling up to `poll_max_interval_seconds`, for at most
   `poll_timeout_seconds` (then `DestinationError`: the batch goes out again next run, and
   adding or removing the same people again is harmless).

Google has no separate deletion API for Customer Match: erase is a removal. Whole-request
errors (`{"error": {"code", "message", "status", "details": [{"errors": [...]}]}}`) raise
`DestinationError`; 429 RESOURCE_EXHAUSTED and 5xx are retried by the shared client, and a
response hook also marks quota errors and CONCURRENT_MODIFICATION (another job on the same
list) as HTTP 429, with `Retry-After` from the error's `retryDelay` when given.

Batch size: Google recommends up to 10,000 identifiers per request for the best throughput,
so `max_batch_size` defaults to 10,000 records (one addOperations request per job).

Payload fields: `email` → hashedEmail, `phone` → hashedPhoneNumber (E.164), and
`first_name` + `last_name` + `country` + `zip`/`postal_code` → addressInfo (hashedFirstName,
hashedLastName, and the unhashed countryCode and postalCode Google requires; sent only
when all four are present). Emails and names are trimmed and lowercased, SHA-256 hex
(`reverse_etl.destinations.hashing`). A record with none of these is rejected without a
request. `destination_id` is the compact JSON of the identifiers sent; a change whose
email, phone or address differs from what was sent removes the old identifiers in a job of
its own first, then adds the new ones.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal

import requests
from pydantic import Field, field_validator

from reverse_etl.destinations.base import (
    ENV_NAME,
    Batch,
    BatchResult,
    Credential,
    Credentials,
    DestinationError,
    HttpDestination,
    HttpDestinationOptions,
    body_summary,
    compact_json,
    json_object,
    mark_as_429,
)
from reverse_etl.destinations.hashing import (
    google_country_code,
    google_email,
    google_name,
    google_phone,
    google_postal_code,
    sha256_hex,
)
from reverse_etl.http import HttpClient, redact

log = logging.getLogger(__name__)

MAX_IDENTIFIERS_PER_REQUEST = 100_000
IDENTIFIER_TYPES = ("hashedEmail", "hashedPhoneNumber", "addressInfo")
Consent = Literal["GRANTED", "DENIED", "UNSPECIFIED"]
RETRYABLE_ERROR_CODES = {
    ("quotaError", "RESOURCE_EXHAUSTED"),
    ("quotaError", "RESOURCE_TEMPORARILY_EXHAUSTED"),
    ("databaseError", "CONCURRENT_MODIFICATION"),
}


class GoogleAdsCustomerMatchConfig(HttpDestinationOptions):
    credentials: ClassVar = (
        Credential("access_token", "access_token_env"),
        Credential("developer_token", "developer_token_env"),
    )

    customer_id: str = Field(pattern=r"^[0-9]+$")
    user_list_id: str = Field(pattern=r"^[0-9]+$")
    access_token_env: str = Field(pattern=ENV_NAME)
    developer_token_env: str = Field(pattern=ENV_NAME)
    login_customer_id: str | None = Field(default=None, pattern=r"^[0-9]+$")
    api_version: str = Field(default="v26", pattern=r"^v[0-9]+$")
    base_url: str = "https://googleads.googleapis.com"
    max_batch_size: int = Field(default=10_000, ge=1, le=MAX_IDENTIFIERS_PER_REQUEST)
    max_identifiers_per_request: int = Field(
        default=MAX_IDENTIFIERS_PER_REQUEST, ge=3, le=MAX_IDENTIFIERS_PER_REQUEST
    )
    # Google's quotas are per developer token and per day, not a fixed rate: the base's
    # default (no rate limit) applies.
    timeout_seconds: float = Field(default=60.0, gt=0)
    ad_user_data_consent: Consent = "GRANTED"
    ad_personalization_consent: Consent = "GRANTED"
    poll_interval_seconds: float = Field(default=10.0, ge=0)
    poll_max_interval_seconds: float = Field(default=120.0, gt=0)
    poll_timeout_seconds: float = Field(default=3600.0, gt=0)

    @field_validator("customer_id", "login_customer_id", mode="before")
    @classmethod
    def _without_dashes(cls, value: Any) -> Any:
        return value.replace("-", "") if isinstance(value, str) else value


def google_identifiers(payload: dict[str, Any]) -> dict[str, Any]:
    """The user identifiers of one record's payload, normalized and hashed by Google's rules."""
    identifiers: dict[str, Any] = {}
    email = google_email(payload.get("email"))
    if email:
        identifiers["hashedEmail"] = sha256_hex(email)
    phone = google_phone(payload.get("phone"), payload.get("country"))
    if phone:
        identifiers["hashedPhoneNumber"] = sha256_hex(phone)
    first_name = google_name(payload.get("first_name"))
    last_name = google_name(payload.get("last_name"))
    country = google_country_code(payload.get("country"))
    postal_code = google_postal_code(payload.get("zip", payload.get("postal_code")))
    if first_name and last_name and country and postal_code:
        identifiers["addressInfo"] = {
            "hashedFirstName": sha256_hex(first_name),
            "hashedLastName": sha256_hex(last_name),
            "countryCode": country,
            "postalCode": postal_code,
        }
    return identifiers


def parse_destination_id(value: str | None) -> dict[str, Any]:
    """The identifiers stored as a record's destination id ({} when there are none)."""
    identifiers = json_object(value)
    return {key: identifiers[key] for key in IDENTIFIER_TYPES if identifiers.get(key)}


def stale_identifiers(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Identifiers sent before that are no longer the person's."""
    return {key: value for key, value in old.items() if new.get(key) != value}


def user_data(identifiers: dict[str, Any]) -> dict[str, Any]:
    """A `UserData`: one `UserIdentifier` per identifier."""
    return {
        "userIdentifiers": [
            {key: identifiers[key]} for key in IDENTIFIER_TYPES if key in identifiers
        ]
    }


def chunk_by_identifiers(
    items: list[tuple[str, dict[str, Any]]], limit: int
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Consecutive chunks holding at most `limit` identifiers each."""
    chunk: list[tuple[str, dict[str, Any]]] = []
    count = 0
    for item in items:
        size = len(item[1])
        if chunk and count + size > limit:
            yield chunk
            chunk, count = [], 0
        chunk.append(item)
        count += size
    if chunk:
        yield chunk


def _error_code(error: dict[str, Any]) -> tuple[str, str] | None:
    code = error.get("errorCode")
    if isinstance(code, dict) and code:
        kind, value = next(iter(code.items()))
        return str(kind), str(value)
    return None


def _failures(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The `GoogleAdsFailure.errors` inside a status's details."""
    errors: list[dict[str, Any]] = []
    for detail in document.get("details") or []:
        if isinstance(detail, dict):
            errors.extend(e for e in detail.get("errors") or [] if isinstance(e, dict))
    return errors


def operation_index(error: dict[str, Any]) -> int | None:
    """The index of the operation an error is about, from its field path."""
    location = error.get("location")
    elements = location.get("fieldPathElements") if isinstance(location, dict) else None
    for element in elements or []:
        if isinstance(element, dict) and element.get("fieldName") == "operations":
            index = element.get("index")
            return int(index) if isinstance(index, int | str) and str(index).isdigit() else None
    return None


def describe_failure(error: dict[str, Any]) -> str:
    code = _error_code(error)
    prefix = f"{code[0]}.{code[1]}: " if code else ""
    return prefix + str(error.get("message", "rejected"))


def _status_error(response: requests.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else {}


def _retry_delay_seconds(document: Any) -> int | None:
    """The first `retryDelay` (a duration such as "30s") anywhere in an error, in seconds."""
    if isinstance(document, dict):
        match = re.fullmatch(r"([0-9.]+)s", str(document.get("retryDelay", "")))
        if match:
            return math.ceil(float(match.group(1)))
        children: Any = document.values()
    elif isinstance(document, list):
        children = document
    else:
        return None
    for child in children:
        delay = _retry_delay_seconds(child)
        if delay is not None:
            return delay
    return None


def mark_retryable_as_429(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: quota and concurrent-modification errors become HTTP 429."""
    if response.status_code == 429 or not 400 <= response.status_code < 500:
        return
    status = _status_error(response)
    codes = {_error_code(error) for error in _failures(status)}
    if not codes & RETRYABLE_ERROR_CODES and status.get("status") != "RESOURCE_EXHAUSTED":
        return
    mark_as_429(response, "X-Google-Ads-Original-Status", _retry_delay_seconds(status))


def describe_error(response: requests.Response) -> str:
    status = _status_error(response)
    if not status:
        return f"Google Ads API answered HTTP {response.status_code}: {body_summary(response)}"
    details = "; ".join(describe_failure(error) for error in _failures(status)[:5])
    return (
        f"Google Ads API answered HTTP {response.status_code} {status.get('status')}:"
        f" {status.get('message')}" + (f" ({details})" if details else "")
    )


class GoogleAdsCustomerMatchDestination(HttpDestination):
    # Customer Match has no separate deletion API: an erase is the removal.
    supports_erase = False
    response_hooks = (mark_retryable_as_429,)
    config: GoogleAdsCustomerMatchConfig

    def __init__(
        self,
        config: GoogleAdsCustomerMatchConfig,
        client: HttpClient | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(config, client, sleep, credentials=credentials)
        self._headers = {
            "Authorization": f"Bearer {self.credentials['access_token'].reveal()}",
            "developer-token": self.credentials["developer_token"].reveal(),
            "Content-Type": "application/json",
        }
        if config.login_customer_id:
            self._headers["login-customer-id"] = config.login_customer_id
        self._api = f"{config.base_url.rstrip('/')}/{config.api_version}"
        self.user_list = f"customers/{config.customer_id}/userLists/{config.user_list_id}"

    def upsert(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        items: list[tuple[str, dict[str, Any]]] = []
        stale: list[tuple[str, dict[str, Any]]] = []
        for record in batch.records:
            identifiers = google_identifiers(record.payload or {})
            if not identifiers:
                result.rejected[record.record_key] = (
                    "no usable identifier: needs an email, a phone, or a first name, last"
                    " name, country and postal code"
                )
                continue
            items.append((record.record_key, identifiers))
            old = stale_identifiers(parse_destination_id(record.destination_id), identifiers)
            if batch.operation == "change" and old:
                stale.append((record.record_key, old))
        if stale:
            # The old identity goes first, in a job of its own, so the additions win.
            self._run_job("remove", stale)
        if items:
            result.rejected.update(self._run_job("create", items))
        result.acknowledged = {
            key: compact_json(identifiers)
            for key, identifiers in items
            if key not in result.rejected
        }
        return result

    def remove(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        items: list[tuple[str, dict[str, Any]]] = []
        for record in batch.records:
            identifiers = parse_destination_id(record.destination_id)
            if identifiers:
                items.append((record.record_key, identifiers))
            else:
                result.rejected[record.record_key] = "no stored identifier hashes to remove"
        if items:
            result.rejected.update(self._run_job("remove", items))
        result.acknowledged = {
            key: compact_json(identifiers)
            for key, identifiers in items
            if key not in result.rejected
        }
        return result

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.request(
            "POST", f"{self._api}/{path}", json=body, headers=self._headers
        )
        if not 200 <= response.status_code < 300:
            raise DestinationError(redact(describe_error(response), self.client.secrets))
        try:
            answer = response.json()
        except ValueError:
            return {}
        return answer if isinstance(answer, dict) else {}

    def _run_job(self, kind: str, items: list[tuple[str, dict[str, Any]]]) -> dict[str, str]:
        """Create, fill, run and wait for one job; returns the records it rejected."""
        job = {
            "type": "CUSTOMER_MATCH_USER_LIST",
            "customerMatchUserListMetadata": {
                "userList": self.user_list,
                "consent": {
                    "adUserData": self.config.ad_user_data_consent,
                    "adPersonalization": self.config.ad_personalization_consent,
                },
            },
        }
        created = self._post(
            f"customers/{self.config.customer_id}/offlineUserDataJobs:create", {"job": job}
        )
        job_name = created.get("resourceName")
        if not isinstance(job_name, str) or not job_name:
            raise DestinationError("Google Ads API created a job without a resourceName")
        rejected: dict[str, str] = {}
        for chunk in chunk_by_identifiers(items, self.config.max_identifiers_per_request):
            answer = self._post(
                f"{job_name}:addOperations",
                {
                    "enablePartialFailure": True,
                    "operations": [{kind: user_data(identifiers)} for _, identifiers in chunk],
                },
            )
            rejected.update(self._partial_failures(answer, [key for key, _ in chunk]))
        if len(rejected) == len(items):
            return rejected  # nothing left to run
        self._post(f"{job_name}:run", {})
        self._wait_for(job_name)
        return rejected

    def _partial_failures(self, answer: dict[str, Any], keys: list[str]) -> dict[str, str]:
        status = answer.get("partialFailureError")
        if not isinstance(status, dict) or not status:
            return {}
        rejected: dict[str, str] = {}
        for error in _failures(status) or [{"message": status.get("message")}]:
            index = operation_index(error)
            reason = redact(describe_failure(error), self.client.secrets)
            targets = [keys[index]] if index is not None and index < len(keys) else keys
            for key in targets:
                rejected[key] = reason if key not in rejected else f"{rejected[key]}; {reason}"
        return rejected

    def _wait_for(self, job_name: str) -> None:
        query = (
            "SELECT offline_user_data_job.resource_name, offline_user_data_job.status,"
            " offline_user_data_job.failure_reason FROM offline_user_data_job"
            f" WHERE offline_user_data_job.resource_name = '{job_name}'"
        )
        interval, waited = self.config.poll_interval_seconds, 0.0
        while True:
            answer = self._post(
                f"customers/{self.config.customer_id}/googleAds:search", {"query": query}
            )
            rows = answer.get("results") or [{}]
            job = (rows[0].get("offlineUserDataJob") or {}) if isinstance(rows[0], dict) else {}
            status = job.get("status")
            if status == "SUCCESS":
                return
            if status == "FAILED":
                raise DestinationError(
                    f"Google Ads offline user data job {job_name} FAILED:"
                    f" {job.get('failureReason', 'UNSPECIFIED')}"
                )
            if waited >= self.config.poll_timeout_seconds:
                raise DestinationError(
                    f"Google Ads offline user data job {job_name} still {status} after"
                    f" {waited:.0f}s; the batch will be sent again"
                )
            self.sleep(interval)
            waited += interval
            interval = min(max(interval * 2, 1.0), self.config.poll_max_interval_seconds)
