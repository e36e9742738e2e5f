"""Klaviyo lists: profiles imported in bulk jobs, removed from the list, deleted on erasure.

Requests follow Klaviyo's REST API (JSON:API documents, `application/vnd.api+json`, a
`revision` header naming the API version, `Authorization: Klaviyo-API-Key <key>`):

- add / change: one Bulk Import Profiles job (`POST /api/profile-bulk-import-jobs`, at most
  10,000 profiles and 5 MB per job) related to the list, so imported profiles join it. The job
  is polled (`GET /api/profile-bulk-import-jobs/{id}`) until `complete`; its import errors
  (`.../import-errors`, read only when the job reports failures) become rejections with
  Klaviyo's own detail, and its profiles (`.../profiles`, 100 a page) give each record's
  profile id, kept as the destination id. A record is acknowledged only once its profile id
  has been read back from the finished job.
- remove: `DELETE /api/lists/{id}/relationships/profiles` by profile id, 1,000 per request.
- erase: the same removal, then one Data Privacy deletion job per profile
  (`POST /api/data-privacy-deletion-jobs`), which deletes the profile from the account; a
  profile that is already gone (`404`) counts as deleted.

Payload conventions (the sync's `fields` keys):

- `email` (trimmed, lower-cased) and/or `phone` / `phone_number` (E.164, see
  `normalize_phone`): at least one is required, else the record is rejected without a request.
- `first_name`, `last_name`, `organization`, `title`, `locale`, `image`: profile attributes.
- `address1`, `address2`, `city`, `country`, `region`, `zip`, `timezone`: `location`.
- any other key: a custom profile property.
- `external_id` is always the record key (the customer id); import results are matched back
  to records by it, then by email.

Null values are left out: the bulk import never clears a field. Default rate limits are
Klaviyo's documented steady limits: 150/min for the import, job and list endpoints, 60/min for
deletion jobs (`deletion_rate_limit_per_second`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import requests
from pydantic import Field

from reverse_etl.destinations.base import (
    ENV_NAME,
    AsyncJobOptions,
    Batch,
    BatchResult,
    Credential,
    Credentials,
    DestinationError,
    HttpDestination,
    Record,
    body_summary,
    chunks,
    lowercase_email,
    moved_ids,
    upsert_in_chunks,
)
from reverse_etl.http import HttpClient, TokenBucket, redact
from reverse_etl.redaction import reveal

KLAVIYO_REVISION = "2026-07-15"
MAX_PROFILES_PER_IMPORT = 10_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_PROFILES_PER_LIST_REQUEST = 1_000
PAGE_SIZE = 100
JSON_API = "application/vnd.api+json"

PROFILE_ATTRIBUTES = ("first_name", "last_name", "organization", "title", "locale", "image")
LOCATION_ATTRIBUTES = ("address1", "address2", "city", "country", "region", "zip", "timezone")
_IDENTIFIERS = ("email", "phone", "phone_number")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_POINTER_INDEX = re.compile(r"/profiles/data/(\d+)")


class KlaviyoDestinationConfig(AsyncJobOptions):
    credentials: ClassVar = (Credential("api_key", "api_key_env"),)

    list_id: str = Field(min_length=1)
    api_key_env: str = Field(default="KLAVIYO_API_KEY", pattern=ENV_NAME)
    base_url: str = "https://a.klaviyo.com"
    revision: str = KLAVIYO_REVISION
    max_batch_size: int = Field(default=MAX_PROFILES_PER_IMPORT, ge=1, le=MAX_PROFILES_PER_IMPORT)
    rate_limit_per_second: float = Field(default=150 / 60, gt=0)
    deletion_rate_limit_per_second: float = Field(default=60 / 60, gt=0)


# Trimmed and lower-cased; None when empty.
normalize_email = lowercase_email


def normalize_phone(value: Any) -> str | None:
    """E.164 (`+` and 7 to 15 digits) with spaces, dots, dashes and brackets removed.

    A leading `00` becomes `+`. Raises ValueError for a number that is not E.164 after that,
    because Klaviyo would reject the whole profile; None when empty.
    """
    if value is None:
        return None
    text = re.sub(r"[\s.\-()/]", "", str(value))
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _E164.match(text):
        raise ValueError(f"phone number {value!r} is not in E.164 format (+ and country code)")
    return text


def profile_attributes(record_key: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The profile `attributes` for one record; raises ValueError when it cannot be sent."""
    attributes: dict[str, Any] = {"external_id": record_key}
    email = normalize_email(payload.get("email"))
    phone = normalize_phone(payload.get("phone_number", payload.get("phone")))
    if email is None and phone is None:
        raise ValueError("neither an email nor a phone number to identify the profile")
    if email is not None:
        attributes["email"] = email
    if phone is not None:
        attributes["phone_number"] = phone
    location: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for key, value in payload.items():
        if value is None or key in _IDENTIFIERS:
            continue
        if key in PROFILE_ATTRIBUTES:
            attributes[key] = str(value)
        elif key in LOCATION_ATTRIBUTES:
            location[key] = str(value)
        else:
            properties[key] = value
    if location:
        attributes["location"] = location
    if properties:
        attributes["properties"] = properties
    return attributes


def error_detail(response: requests.Response) -> str:
    """Klaviyo's JSON:API `errors` as `code: title: detail` text, else the body's size."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors:
            if isinstance(error, dict):
                fields = (error.get("code"), error.get("title"), error.get("detail"))
                parts.append(": ".join(str(part) for part in fields if part))
        if any(parts):
            return "; ".join(part for part in parts if part)
    return body_summary(response)


def match_import_error(
    error: dict[str, Any], keys_by_identifier: dict[str, str], sent_keys: list[str]
) -> str | None:
    """The record key an import error is about: by its original payload, else its pointer."""
    attributes = error.get("attributes") or {}
    original = attributes.get("original_payload") or {}
    if isinstance(original.get("attributes"), dict):
        original = original["attributes"]
    for field in ("external_id", "email"):
        value = original.get(field)
        if isinstance(value, str):
            key = keys_by_identifier.get(
                f"{field}:{value if field == 'external_id' else value.lower()}"
            )
            if key is not None:
                return key
    pointer = (attributes.get("source") or {}).get("pointer") or ""
    found = _POINTER_INDEX.search(pointer)
    if found and int(found.group(1)) < len(sent_keys):
        return sent_keys[int(found.group(1))]
    return None


class KlaviyoDestination(HttpDestination):
    supports_erase = True  # Data Privacy deletion jobs
    config: KlaviyoDestinationConfig

    def __init__(
        self,
        config: KlaviyoDestinationConfig,
        client: HttpClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        *,
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(config, client, sleep, credentials=credentials)
        self._base = config.base_url.rstrip("/")
        # Deletion jobs have their own, lower limit (burst 3/s, steady 60/min).
        self._deletions = TokenBucket(
            config.deletion_rate_limit_per_second,
            capacity=3,
            clock=clock,
            sleep=lambda seconds: self.sleep(seconds),
        )

    # -- HTTP ------------------------------------------------------------------------------

    def _headers(self, with_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Klaviyo-API-Key {reveal(self.credentials['api_key'])}",
            "revision": self.config.revision,
            "Accept": JSON_API,
        }
        if with_body:
            headers["Content-Type"] = JSON_API
        return headers

    def _call(
        self,
        method: str,
        path: str,
        *,
        document: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        body = None if document is None else json.dumps(document, separators=(",", ":"))
        return self.client.request(
            method,
            f"{self._base}{path}",
            data=body,
            params=params,
            headers=self._headers(document is not None),
        )

    def _fail(self, what: str, response: requests.Response) -> DestinationError:
        detail = redact(error_detail(response), self.client.secrets)
        return DestinationError(f"Klaviyo {what} answered HTTP {response.status_code}: {detail}")

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[list[dict[str, Any]]]:
        """Every page of a collection, following `links.next` by its cursor only."""
        query = dict(params, **{"page[size]": str(PAGE_SIZE)})
        while True:
            response = self._call("GET", path, params=query)
            if response.status_code != 200:
                raise self._fail(f"GET {path}", response)
            document = response.json()
            yield document.get("data") or []
            next_link = (document.get("links") or {}).get("next")
            cursor = parse_qs(urlsplit(next_link).query).get("page[cursor]") if next_link else None
            if not cursor:
                return
            # The cursor is reused against the configured host: the key never goes elsewhere.
            query = dict(query, **{"page[cursor]": cursor[0]})

    # -- operations ------------------------------------------------------------------------

    def upsert(self, batch: Batch) -> BatchResult:
        return self._import(batch.records)

    def _import(self, records: list[Record]) -> BatchResult:
        result = upsert_in_chunks(
            records,
            lambda record: {
                "type": "profile",
                "attributes": profile_attributes(record.record_key, record.payload or {}),
            },
            self._run_import_job,
            max_items=self.max_batch_size,
            max_bytes=MAX_IMPORT_BYTES - 4096,
        )
        stale = moved_ids(records, result)
        if stale:
            # The record now resolves to another profile: the old one leaves the list.
            self._remove_from_list(stale)
        return result

    def _run_import_job(
        self, profiles: list[dict[str, Any]], keys: list[str], result: BatchResult
    ) -> None:
        document = {
            "data": {
                "type": "profile-bulk-import-job",
                "attributes": {"profiles": {"data": profiles}},
                "relationships": {"lists": {"data": [{"type": "list", "id": self.config.list_id}]}},
            }
        }
        response = self._call("POST", "/api/profile-bulk-import-jobs", document=document)
        if response.status_code not in (200, 201, 202):
            raise self._fail("bulk profile import", response)
        job_id = response.json()["data"]["id"]
        job = self._wait_for(job_id)

        by_identifier: dict[str, str] = {}
        for key, profile in zip(keys, profiles, strict=True):
            by_identifier[f"external_id:{key}"] = key
            email = profile["attributes"].get("email")
            if email:
                by_identifier.setdefault(f"email:{email}", key)

        if job.get("failed_count"):
            for page in self._pages(f"/api/profile-bulk-import-jobs/{job_id}/import-errors", {}):
                for error in page:
                    key = match_import_error(error, by_identifier, keys)
                    if key is not None:
                        attributes = error.get("attributes") or {}
                        reason = ": ".join(
                            str(part)
                            for part in (attributes.get("title"), attributes.get("detail"))
                            if part
                        )
                        result.rejected[key] = redact(reason or "import error", self.client.secrets)

        fields = {"fields[profile]": "email,external_id"}
        for page in self._pages(f"/api/profile-bulk-import-jobs/{job_id}/profiles", fields):
            for profile in page:
                attributes = profile.get("attributes") or {}
                key = by_identifier.get(f"external_id:{attributes.get('external_id')}")
                if key is None and attributes.get("email"):
                    key = by_identifier.get(f"email:{str(attributes['email']).lower()}")
                if key is not None and profile.get("id") and key not in result.rejected:
                    result.acknowledged[key] = str(profile["id"])
        for key in keys:
            if key not in result.acknowledged and key not in result.rejected:
                result.rejected[key] = (
                    f"import job {job_id} reported neither a profile nor an error for this record"
                )

    def _wait_for(self, job_id: str) -> dict[str, Any]:
        def check() -> tuple[bool, Any, str]:
            response = self._call("GET", f"/api/profile-bulk-import-jobs/{job_id}")
            if response.status_code != 200:
                raise self._fail("bulk import job status", response)
            attributes = response.json()["data"]["attributes"]
            status = attributes.get("status")
            if status == "cancelled":
                raise DestinationError(f"Klaviyo bulk import job {job_id} was cancelled")
            return status == "complete", attributes, str(status)

        return self.poll(
            f"Klaviyo bulk import job {job_id}",
            check,
            interval=self.config.poll_interval_seconds,
            max_seconds=self.config.max_poll_seconds,
        )

    def _remove_from_list(self, profile_ids: Iterable[str]) -> None:
        path = f"/api/lists/{self.config.list_id}/relationships/profiles"
        for chunk in chunks(list(dict.fromkeys(profile_ids)), MAX_PROFILES_PER_LIST_REQUEST):
            document = {"data": [{"type": "profile", "id": profile_id} for profile_id in chunk]}
            response = self._call("DELETE", path, document=document)
            if response.status_code not in (200, 202, 204):
                raise self._fail("list removal", response)

    def take_out(self, batch: Batch, *, erase: bool) -> BatchResult:
        records = batch.records
        result = BatchResult()
        ids = [record.destination_id for record in records if record.destination_id]
        self._remove_from_list(ids)
        for record in records:
            if not (erase and record.destination_id):
                result.acknowledged[record.record_key] = record.destination_id
                continue
            self._deletions.acquire()
            document = {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {
                        "profile": {
                            "data": {
                                "type": "profile",
                                "id": record.destination_id,
                                "attributes": {},
                            }
                        }
                    },
                }
            }
            response = self._call("POST", "/api/data-privacy-deletion-jobs", document=document)
            if response.status_code in (200, 201, 202, 204, 404):
                # 404: the profile no longer exists, which is what the deletion asks for.
                result.acknowledged[record.record_key] = record.destination_id
            elif response.status_code in (401, 403):
                raise self._fail("profile deletion", response)
            else:
                detail = redact(error_detail(response), self.client.secrets)
                result.rejected[record.record_key] = (
                    f"deletion request answered HTTP {response.status_code}: {detail}"
                )
        return result
