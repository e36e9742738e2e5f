"""HubSpot CRM: contacts upserted by email, and kept in a static list by record id.

Requests (base URL `https://api.hubapi.com`, `Authorization: Bearer <private app token>`,
the token read from the environment variable `access_token_env` names):

- add, change: `POST /crm/v3/objects/contacts/batch/upsert` with
  `{"inputs": [{"idProperty": "email", "id": <email>, "objectWriteTraceId": <record key>,
  "properties": {...}}]}` (at most 100 inputs), then the returned record ids go to the
  list: `PUT /crm/v3/lists/{listId}/memberships/add` with a JSON array of record ids for an
  add; for a change `PUT .../memberships/add-and-remove` with
  `{"recordIdsToAdd": [...], "recordIdsToRemove": [...]}`, which also takes out the old
  record when a new email made the upsert land on a different contact.
- remove: `PUT /crm/v3/lists/{listId}/memberships/remove` with the record ids the state
  kept (`destination_id`); the contact itself stays in the CRM.
- erase: the same membership removal, then `POST /crm/v3/objects/contacts/gdpr-delete`
  with `{"objectId": <record id>}`, one contact per request.

Payload conventions: `email` is required; it is trimmed and lowercased, and a record
without one (or with something that is not an address) is rejected with that reason and
never sent. Payload keys become contact properties through `property_map`; by default
`first_name` -> `firstname`, `last_name` -> `lastname`, and every other key (`email`,
`phone`, `country`, a custom property's internal name, ...) is sent under its own name.
Values are sent as strings (`true`/`false` for booleans); a null value is left out, so it
never blanks what the CRM holds. Two records of one batch with the same email are one
contact: the first is sent, the second rejected.

Answers: `200` (every input upserted) and `207 Multi-Status` (`results` plus `errors`,
each error naming its inputs in `context.objectWriteTraceId` or `context.ids`) give
per-record results; errors become rejections with HubSpot's message. A `400` whose errors
name inputs rejects those and sends the rest again; any other 4xx (`401` bad token, `403`
missing scope, `404` unknown list) refuses the whole batch as a `DestinationError`. List
ids reported in `recordIdsMissing` on an addition are rejected. A record is acknowledged
only once both the upsert and the list change succeeded, with the contact's record id as
its `destination_id`.

Convergence: the upsert (keyed by email) and the membership calls are idempotent, so when
a run dies between the upsert and the list change, nothing of that batch is committed and
the next run sends it again without creating a second contact. Removing a record that is no
longer in the list, or is gone from the CRM, acknowledges it; a `gdpr-delete` answered
`404` means the contact is already deleted.

Limits: batch upsert takes 100 inputs per request; private apps may send 100 requests per
10 seconds on Free and Starter accounts (190 on Professional and Enterprise), hence the
default `rate_limit_per_second` of 10. `429` and `5xx` answers are retried by the shared
client, honouring `Retry-After`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import requests
from pydantic import Field

from reverse_etl.destinations.base import (
    ENV_NAME,
    Batch,
    BatchResult,
    Credential,
    DestinationError,
    HttpDestination,
    HttpDestinationOptions,
    Record,
    body_summary,
)
from reverse_etl.http import redact
from reverse_etl.redaction import reveal

DEFAULT_BASE_URL = "https://api.hubapi.com"
MAX_BATCH_UPSERT_INPUTS = 100
# 100 requests per 10 seconds: the private-app burst limit of Free and Starter accounts.
DEFAULT_REQUESTS_PER_SECOND = 10.0
DEFAULT_PROPERTY_MAP = {"first_name": "firstname", "last_name": "lastname"}
_REASON_LIMIT = 500


class HubSpotDestinationConfig(HttpDestinationOptions):
    credentials: ClassVar = (
        Credential("access_token", "access_token_env", "HubSpot private app token"),
    )

    list_id: str = Field(pattern=r"^[0-9]+$", description="ILS id of a MANUAL or SNAPSHOT list")
    access_token_env: str = Field(default="HUBSPOT_ACCESS_TOKEN", pattern=ENV_NAME)
    base_url: str = DEFAULT_BASE_URL
    property_map: dict[str, str] = Field(default_factory=dict)
    gdpr_delete_on_erase: bool = True
    max_batch_size: int = Field(default=MAX_BATCH_UPSERT_INPUTS, ge=1, le=MAX_BATCH_UPSERT_INPUTS)
    rate_limit_per_second: float | None = Field(default=DEFAULT_REQUESTS_PER_SECOND, gt=0)


def normalize_email(value: Any) -> str | None:
    """The email HubSpot is keyed by: trimmed and lowercased; None when it is not an address."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "@" in domain or "." not in domain.strip("."):
        return None
    if any(character.isspace() for character in email):
        return None
    return email


def property_value(value: Any) -> str:
    """HubSpot property values are strings; booleans are `true`/`false`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def contact_properties(
    payload: Mapping[str, Any], email: str, property_map: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The contact properties for one payload: renamed, stringified, nulls left out."""
    names = DEFAULT_PROPERTY_MAP | dict(property_map or {})
    properties: dict[str, str] = {}
    for key, value in payload.items():
        if value is None or key == "email":
            continue
        properties[names.get(key, key)] = property_value(value)
    properties["email"] = email
    return properties


def upsert_input(record_key: str, email: str, properties: dict[str, str]) -> dict[str, Any]:
    return {
        "idProperty": "email",
        "id": email,
        "objectWriteTraceId": record_key,
        "properties": properties,
    }


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple | set):
        return [str(item) for item in value]
    return [str(value)]


def error_inputs(error: Mapping[str, Any]) -> set[str]:
    """The inputs a HubSpot batch error names: trace ids, ids (emails here) or its own id."""
    context = error.get("context")
    named: set[str] = set()
    if isinstance(context, dict):
        for field in ("objectWriteTraceId", "ids", "id", "email", "emails"):
            named.update(_strings(context.get(field)))
    named.update(_strings(error.get("id")))
    return named


def error_message(error: Mapping[str, Any]) -> str:
    """HubSpot's category and message for an error, with its detailed errors' messages."""
    parts = [str(error[name]) for name in ("category", "message") if error.get(name)]
    details = error.get("errors")
    if isinstance(details, list):
        parts.extend(
            str(item["message"])
            for item in details
            if isinstance(item, dict) and item.get("message") and item["message"] not in parts
        )
    return ": ".join(parts) or "rejected by HubSpot"


def mentions_email(text: str, email: str) -> bool:
    """Whether `text` quotes exactly this (normalized) address, not a longer one."""
    pattern = rf"(?<![\w.+@-]){re.escape(email)}(?![\w.@-]*[\w@])"
    return re.search(pattern, text.lower()) is not None


def membership_ids(answer: Mapping[str, Any], field: str) -> set[str]:
    """A list of record ids from a membership answer (`recordIdsAdded` is also spelled
    `recordsIdsAdded` in HubSpot's own reference)."""
    spellings = {"recordIdsAdded": ("recordIdsAdded", "recordsIdsAdded")}.get(field, (field,))
    found: set[str] = set()
    for spelling in spellings:
        found.update(_strings(answer.get(spelling)))
    return found


def _json(response: requests.Response) -> Any:
    try:
        return response.json() if response.content else {}
    except ValueError:
        return {}


class HubSpotDestination(HttpDestination):
    """Upserts contacts by email and mirrors their membership of one static list."""

    config: HubSpotDestinationConfig

    @property
    def _base_url(self) -> str:
        return self.config.base_url.rstrip("/")

    @property
    def supports_erase(self) -> bool:  # type: ignore[override]
        """GDPR delete, unless the sync turned it off (`gdpr_delete_on_erase: false`)."""
        return self.config.gdpr_delete_on_erase

    # -- HTTP ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any) -> requests.Response:
        return self.client.request(
            method,
            f"{self._base_url}{path}",
            data=json.dumps(body, separators=(",", ":")).encode(),
            headers={
                "Authorization": f"Bearer {reveal(self.credentials['access_token'])}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    def _refusal(self, what: str, response: requests.Response) -> DestinationError:
        answer = _json(response)
        detail = (
            error_message(answer) if isinstance(answer, dict) and answer else body_summary(response)
        )
        return DestinationError(
            f"HubSpot {what} answered HTTP {response.status_code}: {self._clean(detail)}"
        )

    def _clean(self, text: str) -> str:
        return redact(text, self.client.secrets)[:_REASON_LIMIT]

    # -- operations -----------------------------------------------------------------------

    def upsert(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        inputs: dict[str, dict[str, Any]] = {}
        owner_of_email: dict[str, str] = {}
        for record in batch.records:
            email = normalize_email((record.payload or {}).get("email"))
            if email is None:
                result.rejected[record.record_key] = (
                    "no valid email: HubSpot contacts are upserted by email, record not sent"
                )
                continue
            if email in owner_of_email:
                result.rejected[record.record_key] = (
                    f"same email as record {owner_of_email[email]} in this batch (one HubSpot"
                    " contact); record not sent"
                )
                continue
            owner_of_email[email] = record.record_key
            properties = contact_properties(record.payload or {}, email, self.config.property_map)
            inputs[record.record_key] = upsert_input(record.record_key, email, properties)

        contact_ids = self._upsert(inputs, result) if inputs else {}
        if not contact_ids:
            return result

        previous = {r.record_key: r.destination_id for r in batch.records}
        stale = {
            previous[key]
            for key, contact_id in contact_ids.items()
            if previous.get(key) and previous[key] != contact_id
        } - set(contact_ids.values())
        listed = self._add_to_list(list(contact_ids.values()), sorted(stale), batch.operation)
        for key, contact_id in contact_ids.items():
            if contact_id in listed:
                result.acknowledged[key] = contact_id
            else:
                result.rejected[key] = (
                    f"HubSpot list {self.config.list_id}: record id {contact_id} reported"
                    " missing, not added to the list"
                )
        return result

    def _upsert(self, inputs: dict[str, dict[str, Any]], result: BatchResult) -> dict[str, str]:
        """Upsert the inputs; returns record key -> contact id, rejections go to `result`."""
        pending = dict(inputs)
        while pending:
            response = self._call(
                "POST",
                "/crm/v3/objects/contacts/batch/upsert",
                {"inputs": list(pending.values())},
            )
            answer = _json(response)
            answer = answer if isinstance(answer, dict) else {}
            if response.status_code in (200, 201, 207):
                return self._read_upsert_answer(answer, pending, result)
            if response.status_code == 400:
                named = self._reject_named_inputs(answer, pending, result)
                if named:
                    for key in named:
                        pending.pop(key)
                    continue
            raise self._refusal("contacts batch upsert", response)
        return {}

    def _match(self, names: Iterable[str], pending: Mapping[str, dict[str, Any]]) -> set[str]:
        by_email = {entry["id"]: key for key, entry in pending.items()}
        keys: set[str] = set()
        for name in names:
            if name in pending:
                keys.add(name)
            elif name.strip().lower() in by_email:
                keys.add(by_email[name.strip().lower()])
        return keys

    def _reject_named_inputs(
        self, answer: Mapping[str, Any], pending: Mapping[str, dict[str, Any]], result: BatchResult
    ) -> set[str]:
        """Reject the inputs a refused request's errors name; returns their record keys.

        Inputs are named by `context` (trace ids, ids) or, failing that, by an email address
        quoted in a validation message (`Email address ... is invalid`).
        """
        errors = [answer] + [e for e in answer.get("errors") or [] if isinstance(e, dict)]
        named: set[str] = set()
        for error in errors:
            keys = self._match(error_inputs(error), pending)
            for key in keys:
                result.rejected[key] = self._clean(error_message(error))
            named |= keys
        if named or answer.get("category") != "VALIDATION_ERROR":
            return named
        for error in errors:
            text = error_message(error)
            for key, entry in pending.items():
                if key not in named and mentions_email(text, entry["id"]):
                    result.rejected[key] = self._clean(text)
                    named.add(key)
        return named

    def _read_upsert_answer(
        self, answer: Mapping[str, Any], pending: Mapping[str, dict[str, Any]], result: BatchResult
    ) -> dict[str, str]:
        contact_ids: dict[str, str] = {}
        by_email = {entry["id"]: key for key, entry in pending.items()}
        for item in answer.get("results") or []:
            if not isinstance(item, dict) or item.get("id") is None:
                continue
            key = item.get("objectWriteTraceId")
            if key not in pending:
                email = normalize_email((item.get("properties") or {}).get("email"))
                key = by_email.get(email) if email else None
            if key is not None:
                contact_ids[str(key)] = str(item["id"])
        unattributed: list[str] = []
        for error in answer.get("errors") or []:
            if not isinstance(error, dict):
                continue
            keys = self._match(error_inputs(error), pending) - contact_ids.keys()
            for key in keys:
                result.rejected[key] = self._clean(error_message(error))
            if not keys:
                unattributed.append(error_message(error))
        reason = "; ".join(unattributed) or "HubSpot returned no result for this input"
        for key in pending.keys() - contact_ids.keys() - result.rejected.keys():
            result.rejected[key] = self._clean(reason)
        return contact_ids

    def _add_to_list(self, ids: list[str], stale: list[str], operation: str) -> set[str]:
        """Put `ids` in the list (and take `stale` out); returns the ids now in the list."""
        list_path = f"/crm/v3/lists/{self.config.list_id}/memberships"
        if operation == "change":
            body: Any = {"recordIdsToAdd": ids, "recordIdsToRemove": stale}
            response = self._call("PUT", f"{list_path}/add-and-remove", body)
        else:
            response = self._call("PUT", f"{list_path}/add", ids)
        if not 200 <= response.status_code < 300:
            raise self._refusal("list membership change", response)
        answer = _json(response)
        missing = membership_ids(answer, "recordIdsMissing") if isinstance(answer, dict) else set()
        return set(ids) - missing

    def take_out(self, batch: Batch, *, erase: bool) -> BatchResult:
        result = BatchResult()
        ids = sorted({r.destination_id for r in batch.records if r.destination_id})
        if ids:
            response = self._call(
                "PUT", f"/crm/v3/lists/{self.config.list_id}/memberships/remove", ids
            )
            if not 200 <= response.status_code < 300:
                raise self._refusal("list membership removal", response)
        # Ids HubSpot reports missing are not in the list either: the removal holds.
        for record in batch.records:
            if erase and record.destination_id:
                reason = self._gdpr_delete(record)
                if reason is not None:
                    result.rejected[record.record_key] = reason
                    continue
            result.acknowledged[record.record_key] = record.destination_id
        return result

    def _gdpr_delete(self, record: Record) -> str | None:
        """Permanently delete one contact; returns a rejection reason, or None when done."""
        response = self._call(
            "POST", "/crm/v3/objects/contacts/gdpr-delete", {"objectId": record.destination_id}
        )
        if 200 <= response.status_code < 300 or response.status_code == 404:
            return None  # 404: the contact is already gone.
        if response.status_code in (401, 403):
            raise self._refusal("GDPR delete", response)
        answer = _json(response)
        detail = (
            error_message(answer) if isinstance(answer, dict) and answer else body_summary(response)
        )
        return self._clean(f"HubSpot GDPR delete answered HTTP {response.status_code}: {detail}")
