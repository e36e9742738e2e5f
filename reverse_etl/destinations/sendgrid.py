"""SendGrid Marketing Campaigns lists: contacts upserted in import jobs, removed, deleted.

Requests follow the Marketing Campaigns v3 API (`Authorization: Bearer <key>`, JSON):

- add / change: `PUT /v3/marketing/contacts` with `list_ids` and `contacts` (at most 30,000
  contacts or 6 MB per request). SendGrid answers with a `job_id`; the job is polled
  (`GET /v3/marketing/contacts/imports/{id}`) until `completed`, `errored` or `failed`. The
  contacts are then looked up by email (`POST /v3/marketing/contacts/search/emails`, 100 a
  request): a record is acknowledged, with the contact id as its destination id, only when its
  contact exists and is on the list; otherwise it is rejected with the job's outcome. A `400`
  naming contacts (`contacts[3].email`) rejects those records and resends the others once.
- remove: `DELETE /v3/marketing/lists/{id}/contacts?contact_ids=...` (100 ids a request, which
  keeps the URL short; the API documents no other limit).
- erase: the same removal, then `DELETE /v3/marketing/contacts?ids=...`, which deletes the
  contacts themselves. The Recipients Data Erasure API (`POST /v3/recipients/erasejob`) takes
  email addresses, which an erasure no longer has: the state keeps only contact ids.

Payload conventions (the sync's `fields` keys):

- `email` is required (trimmed and lower-cased, as SendGrid stores it; it is the identifier
  contacts are matched and looked up by). Records without one are rejected without a request.
- `first_name`, `last_name`, `address_line_1`, `address_line_2`, `city`,
  `state_province_region` (or `region` / `state`), `postal_code` (or `zip`), `country`: the
  reserved fields, checked against SendGrid's documented maximum lengths.
- any other key: `custom_fields`, so it must be the id of a custom field defined in SendGrid.
- `send_external_id: true` also sends the record key as `external_id`.

The default rate limit is SendGrid's default of 600 requests a minute.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, ClassVar

import requests
from pydantic import Field

from reverse_etl.destinations.base import (
    ENV_NAME,
    AsyncJobOptions,
    Batch,
    BatchResult,
    Credential,
    DestinationError,
    HttpDestination,
    Record,
    body_summary,
    chunks,
    lowercase_email,
    moved_ids,
    upsert_in_chunks,
)
from reverse_etl.http import redact
from reverse_etl.redaction import reveal

MAX_CONTACTS_PER_UPSERT = 30_000
MAX_UPSERT_BYTES = 6 * 1024 * 1024
MAX_EMAILS_PER_SEARCH = 100
FINISHED = ("completed", "errored", "failed")

# Reserved fields and their documented maximum lengths (None: no documented maximum).
RESERVED_FIELDS: dict[str, int | None] = {
    "first_name": 50,
    "last_name": 50,
    "address_line_1": 100,
    "address_line_2": 100,
    "city": 60,
    "state_province_region": 50,
    "postal_code": None,
    "country": 50,
}
ALIASES = {
    "zip": "postal_code",
    "region": "state_province_region",
    "state": "state_province_region",
}
# Contacts accept 254 characters, but the email search that reads their ids back only 100.
MAX_EMAIL_LENGTH = 100
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTACT_INDEX = re.compile(r"^contacts\[(\d+)\]")


class SendGridDestinationConfig(AsyncJobOptions):
    credentials: ClassVar = (Credential("api_key", "api_key_env"),)

    list_id: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )
    api_key_env: str = Field(default="SENDGRID_API_KEY", pattern=ENV_NAME)
    base_url: str = "https://api.sendgrid.com"
    send_external_id: bool = False
    max_batch_size: int = Field(default=MAX_CONTACTS_PER_UPSERT, ge=1, le=MAX_CONTACTS_PER_UPSERT)
    max_ids_per_request: int = Field(default=100, ge=1, le=1000)
    rate_limit_per_second: float = Field(default=600 / 60, gt=0)


# Trimmed and lower-cased; None when empty.
normalize_email = lowercase_email


def contact_for(record_key: str, payload: dict[str, Any], *, external_id: bool) -> dict[str, Any]:
    """The contact object for one record; raises ValueError when SendGrid would refuse it."""
    email = normalize_email(payload.get("email"))
    if email is None:
        raise ValueError("no email address: SendGrid contacts are matched by email")
    if not _EMAIL.match(email):
        raise ValueError(f"email {email!r} is not a valid address")
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(
            f"email is longer than the {MAX_EMAIL_LENGTH} characters SendGrid searches"
        )
    contact: dict[str, Any] = {"email": email}
    if external_id:
        contact["external_id"] = record_key
    custom: dict[str, Any] = {}
    for key, value in payload.items():
        if value is None or key == "email":
            continue
        name = ALIASES.get(key, key)
        if name in RESERVED_FIELDS:
            text = str(value)
            limit = RESERVED_FIELDS[name]
            if limit is not None and len(text) > limit:
                raise ValueError(f"{name} is longer than SendGrid's {limit} characters")
            contact[name] = text
        else:
            custom[key] = value
    if custom:
        contact["custom_fields"] = custom
    return contact


def error_messages(response: requests.Response) -> list[dict[str, Any]]:
    """SendGrid's `errors` list (or single `errors` object), as dicts."""
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return []
    if isinstance(errors, dict):
        errors = [errors]
    return [error for error in errors or [] if isinstance(error, dict)]


def contact_errors(errors: list[dict[str, Any]]) -> dict[int, str] | None:
    """Per-contact validation errors by position, or None when any error is not per contact."""
    found: dict[int, str] = {}
    for error in errors:
        match = _CONTACT_INDEX.match(str(error.get("field") or ""))
        if match is None:
            return None
        index = int(match.group(1))
        message = f"{error.get('field')}: {error.get('message', 'invalid')}"
        found[index] = f"{found[index]}; {message}" if index in found else message
    return found or None


class SendGridDestination(HttpDestination):
    supports_erase = True  # Delete Contacts
    config: SendGridDestinationConfig

    @property
    def _base(self) -> str:
        return self.config.base_url.rstrip("/")

    # -- HTTP ------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        document: Any = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        headers = {
            "Authorization": f"Bearer {reveal(self.credentials['api_key'])}",
            "Accept": "application/json",
        }
        body = None
        if document is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(document, separators=(",", ":"))
        return self.client.request(
            method, f"{self._base}{path}", data=body, params=params, headers=headers
        )

    def _fail(self, what: str, response: requests.Response) -> DestinationError:
        messages = [str(error.get("message", "")) for error in error_messages(response)]
        detail = "; ".join(message for message in messages if message) or body_summary(response)
        return DestinationError(
            f"SendGrid {what} answered HTTP {response.status_code}: "
            f"{redact(detail, self.client.secrets)}"
        )

    # -- operations ------------------------------------------------------------------------

    def upsert(self, batch: Batch) -> BatchResult:
        return self._upsert(batch.records)

    def _upsert(self, records: list[Record]) -> BatchResult:
        result = upsert_in_chunks(
            records,
            lambda record: contact_for(
                record.record_key,
                record.payload or {},
                external_id=self.config.send_external_id,
            ),
            self._import,
            max_items=self.max_batch_size,
            max_bytes=MAX_UPSERT_BYTES - 4096,
        )
        stale = moved_ids(records, result)
        if stale:
            # A changed email made a new contact: the old one leaves the list.
            self._remove_from_list(stale)
        return result

    def _import(self, contacts: list[dict[str, Any]], keys: list[str], result: BatchResult) -> None:
        document = {"list_ids": [self.config.list_id], "contacts": contacts}
        response = self._call("PUT", "/v3/marketing/contacts", document=document)
        if response.status_code == 400:
            refused = contact_errors(error_messages(response))
            if refused is None or not refused.keys() <= set(range(len(contacts))):
                raise self._fail("contact upsert", response)
            for index, reason in refused.items():
                result.rejected[keys[index]] = redact(reason, self.client.secrets)
            kept = [i for i in range(len(contacts)) if i not in refused]
            contacts, keys = [contacts[i] for i in kept], [keys[i] for i in kept]
            if not contacts:
                return
            document = {"list_ids": [self.config.list_id], "contacts": contacts}
            response = self._call("PUT", "/v3/marketing/contacts", document=document)
        if response.status_code != 202:
            raise self._fail("contact upsert", response)
        job_id = str(response.json()["job_id"])
        job = self._wait_for(job_id)
        status = job.get("status")
        counts = job.get("results") or {}
        outcome = f"import job {job_id} finished {status}"
        if counts.get("errored_count"):
            outcome += f" with {int(counts['errored_count'])} errored contacts"
        found = self._contact_ids([contact["email"] for contact in contacts])
        for key, contact in zip(keys, contacts, strict=True):
            match = found.get(contact["email"])
            if match is None:
                result.rejected[key] = f"contact not found after {outcome}"
            elif self.config.list_id not in match[1]:
                result.rejected[key] = f"contact is not on the list after {outcome}"
            else:
                result.acknowledged[key] = match[0]

    def _wait_for(self, job_id: str) -> dict[str, Any]:
        def check() -> tuple[bool, Any, str]:
            response = self._call("GET", f"/v3/marketing/contacts/imports/{job_id}")
            if response.status_code != 200:
                raise self._fail("import status", response)
            job = response.json()
            return job.get("status") in FINISHED, job, str(job.get("status"))

        return self.poll(
            f"SendGrid import job {job_id}",
            check,
            interval=self.config.poll_interval_seconds,
            max_seconds=self.config.max_poll_seconds,
        )

    def _contact_ids(self, emails: list[str]) -> dict[str, tuple[str, list[str]]]:
        """email -> (contact id, list ids) for the emails that have a contact."""
        found: dict[str, tuple[str, list[str]]] = {}
        for chunk in chunks(list(dict.fromkeys(emails)), MAX_EMAILS_PER_SEARCH):
            response = self._call(
                "POST", "/v3/marketing/contacts/search/emails", document={"emails": chunk}
            )
            if response.status_code == 404:
                continue  # none of these addresses has a contact
            if response.status_code != 200:
                raise self._fail("contact search", response)
            for email, entry in (response.json().get("result") or {}).items():
                contact = entry.get("contact") if isinstance(entry, dict) else None
                if contact and contact.get("id"):
                    found[email.lower()] = (str(contact["id"]), list(contact.get("list_ids") or []))
        return found

    def _remove_from_list(self, contact_ids: Iterable[str]) -> None:
        path = f"/v3/marketing/lists/{self.config.list_id}/contacts"
        for chunk in chunks(list(dict.fromkeys(contact_ids)), self.config.max_ids_per_request):
            response = self._call("DELETE", path, params={"contact_ids": ",".join(chunk)})
            if response.status_code not in (200, 202, 204):
                raise self._fail("list removal", response)

    def _delete_contacts(self, contact_ids: list[str]) -> None:
        for chunk in chunks(list(dict.fromkeys(contact_ids)), self.config.max_ids_per_request):
            response = self._call(
                "DELETE", "/v3/marketing/contacts", params={"ids": ",".join(chunk)}
            )
            if response.status_code not in (200, 202, 204):
                raise self._fail("contact deletion", response)

    def take_out(self, batch: Batch, *, erase: bool) -> BatchResult:
        records = batch.records
        ids = [record.destination_id for record in records if record.destination_id]
        self._remove_from_list(ids)
        if erase and ids:
            self._delete_contacts(ids)
        return BatchResult(
            acknowledged={record.record_key: record.destination_id for record in records}
        )
