"""Meta Custom Audiences: add and remove people of a customer-file audience by hashed keys.

Marketing API (Graph API, `api_version`, default v25.0):

- add / change: `POST /{audience_id}/users`; remove / erase: `DELETE /{audience_id}/users`.
  Form parameters `payload` (`{"schema": [...], "data": [[...], ...]}`, a multi-key
  schema), `session` (`{"session_id", "batch_seq", "last_batch_flag",
  "estimated_num_total"}`: each batch is one session of one request) and `access_token`
  (read from the environment variable `access_token_env`, sent in the body so it never
  appears in a URL, and redacted from every message). At most 10,000 rows per request.
- Meta has no user deletion API for audiences: erase is a removal.
- The answer `{"audience_id", "session_id", "num_received", "num_invalid_entries",
  "invalid_entry_samples": {value: reason}}` acknowledges the batch; rows whose hashes
  appear in `invalid_entry_samples` are rejected with Meta's reason (retried next run,
  then dead-lettered). Meta reports only samples, so other invalid rows cannot be told
  apart and are acknowledged (a warning gives their number).
- Errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`. An
  invalid or expired token (code 190), missing permissions (10, 200, 294) or an invalid
  parameter (100) refuse the whole batch: `DestinationError`. Throttling (codes 4, 17, 32,
  613, 80000-80014) and transient errors (`is_transient`) come back as HTTP 400/403; a
  response hook on the client's session marks them as HTTP 429, with a `Retry-After` taken
  from `estimated_time_to_regain_access` of `X-Business-Use-Case-Usage` when Meta sends
  one, so the shared client retries them with its backoff like any 429.

Payload fields (the sync's `fields` keys; all optional, others are ignored, none is ever
sent raw): `email` → EMAIL, `phone` → PHONE, `first_name` → FN, `last_name` → LN, `city`
→ CT, `state` → ST, `zip` or `postal_code` → ZIP, `country` → COUNTRY, `gender` → GEN,
`date_of_birth` → DOBY/DOBM/DOBD, `external_id` → EXTERN_ID. Each is normalized by Meta's
rules (`reverse_etl.destinations.hashing`) and SHA-256 hashed; a record needs an email, a
phone, an external id or a first and last name, else it is rejected without a request.

`destination_id` is the compact JSON of the hashed keys sent (`{"EMAIL": "<sha256>", ...}`),
all a later removal needs. A change is an upsert (Meta matches by the keys); when a primary
key (EMAIL, PHONE, EXTERN_ID) of the person changed, the old values are first removed with
a DELETE of just those keys, so the audience does not keep a stale identity.
"""

from __future__ import annotations

import json
import logging
import random
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
    body_summary,
    compact_json,
    json_object,
    mark_as_429,
)
from reverse_etl.destinations.hashing import (
    birth_date,
    meta_city,
    meta_country,
    meta_external_id,
    meta_gender,
    meta_name,
    meta_phone,
    meta_state,
    meta_zip,
    normalize_email,
    sha256_hex,
)
from reverse_etl.http import redact
from reverse_etl.redaction import reveal

log = logging.getLogger(__name__)

MAX_ROWS_PER_REQUEST = 10_000
# Schema keys in the order they are sent; the primary ones identify a person on their own.
SCHEMA_KEYS = (
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "CT",
    "ST",
    "ZIP",
    "COUNTRY",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "EXTERN_ID",
)
PRIMARY_KEYS = ("EMAIL", "PHONE", "EXTERN_ID")
THROTTLING_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})


class MetaCustomAudienceConfig(HttpDestinationOptions):
    credentials: ClassVar = (Credential("access_token", "access_token_env"),)

    audience_id: str = Field(pattern=r"^[0-9]+$")
    access_token_env: str = Field(pattern=ENV_NAME)
    api_version: str = Field(default="v25.0", pattern=r"^v[0-9]+\.[0-9]+$")
    base_url: str = "https://graph.facebook.com"
    max_batch_size: int = Field(default=MAX_ROWS_PER_REQUEST, ge=1, le=MAX_ROWS_PER_REQUEST)
    # Meta's limits are per-business quotas, not a fixed rate: none by default, and
    # throttling answers are retried with backoff (see the module docstring).
    timeout_seconds: float = Field(default=60.0, gt=0)


def meta_keys(payload: dict[str, Any]) -> dict[str, str]:
    """The normalized, SHA-256 hashed schema keys of one record's payload."""
    country = payload.get("country")
    born = birth_date(payload.get("date_of_birth"))
    values = {
        "EMAIL": normalize_email(payload.get("email")),
        "PHONE": meta_phone(payload.get("phone"), country),
        "FN": meta_name(payload.get("first_name")),
        "LN": meta_name(payload.get("last_name")),
        "CT": meta_city(payload.get("city")),
        "ST": meta_state(payload.get("state"), country),
        "ZIP": meta_zip(payload.get("zip", payload.get("postal_code")), country),
        "COUNTRY": meta_country(country),
        "GEN": meta_gender(payload.get("gender")),
        "DOBY": f"{born.year:04d}" if born else None,
        "DOBM": f"{born.month:02d}" if born else None,
        "DOBD": f"{born.day:02d}" if born else None,
        "EXTERN_ID": meta_external_id(payload.get("external_id")),
    }
    return {key: sha256_hex(value) for key, value in values.items() if value is not None}


def is_matchable(keys: dict[str, str]) -> bool:
    return any(key in keys for key in PRIMARY_KEYS) or ("FN" in keys and "LN" in keys)


def parse_destination_id(value: str | None) -> dict[str, str]:
    """The hashed keys stored as a record's destination id ({} when there are none)."""
    keys = json_object(value)
    return {str(k): str(v) for k, v in keys.items() if k in SCHEMA_KEYS and v}


def stale_primary_keys(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """Primary keys that were sent before and are no longer the person's."""
    return {key: old[key] for key in PRIMARY_KEYS if key in old and new.get(key) != old[key]}


def users_payload(rows: list[dict[str, str]]) -> dict[str, Any]:
    """`{"schema", "data"}` over the keys any row has; a key a row lacks is left blank."""
    schema = [key for key in SCHEMA_KEYS if any(key in row for row in rows)]
    return {"schema": schema, "data": [[row.get(key, "") for key in schema] for row in rows]}


def regain_access_seconds(header: str | None) -> int | None:
    """Seconds until access returns, from `X-Business-Use-Case-Usage` (given in minutes)."""
    if not header:
        return None
    try:
        usage = json.loads(header)
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access")
        for entries in (usage.values() if isinstance(usage, dict) else [])
        if isinstance(entries, list)
        for entry in entries
        if isinstance(entry, dict)
    ]
    known = [m for m in minutes if isinstance(m, int | float) and m > 0]
    return int(max(known) * 60) if known else None


def graph_error(response: requests.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    error = document.get("error") if isinstance(document, dict) else None
    return error if isinstance(error, dict) else {}


def mark_throttling_as_429(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Response hook: Graph throttling and transient errors become HTTP 429 for retrying."""
    if response.status_code == 429 or not 400 <= response.status_code < 500:
        return
    error = graph_error(response)
    if error.get("code") not in THROTTLING_CODES and error.get("is_transient") is not True:
        return
    wait = regain_access_seconds(response.headers.get("X-Business-Use-Case-Usage"))
    mark_as_429(response, "X-Graph-Original-Status", wait)


def describe_error(response: requests.Response) -> str:
    error = graph_error(response)
    if not error:
        return f"Meta Graph API answered HTTP {response.status_code}: {body_summary(response)}"
    code = error.get("code")
    hint = " (invalid or expired access token)" if code == 190 else ""
    return (
        f"Meta Graph API answered HTTP {response.status_code}: {error.get('message')}"
        f" (type {error.get('type')}, code {code}, subcode {error.get('error_subcode')},"
        f" fbtrace_id {error.get('fbtrace_id')}){hint}"
    )


class MetaCustomAudienceDestination(HttpDestination):
    # No user deletion API for audiences: an erase is the removal (the base sends it so).
    supports_erase = False
    response_hooks = (mark_throttling_as_429,)
    config: MetaCustomAudienceConfig

    @property
    def url(self) -> str:
        base = self.config.base_url.rstrip("/")
        return f"{base}/{self.config.api_version}/{self.config.audience_id}/users"

    def upsert(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        rows: dict[str, dict[str, str]] = {}
        stale: dict[str, dict[str, str]] = {}
        for record in batch.records:
            keys = meta_keys(record.payload or {})
            if not is_matchable(keys):
                result.rejected[record.record_key] = (
                    "no usable identifier: needs an email, a phone, an external_id"
                    " or a first and last name"
                )
                continue
            rows[record.record_key] = keys
            old = stale_primary_keys(parse_destination_id(record.destination_id), keys)
            if batch.operation == "change" and old:
                stale[record.record_key] = old
        if stale:
            # The old identity goes first, so the upsert below is the last word.
            self._call("DELETE", stale)
        if rows:
            result.rejected.update(self._call("POST", rows))
        result.acknowledged = {
            key: compact_json(keys) for key, keys in rows.items() if key not in result.rejected
        }
        return result

    def remove(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        rows: dict[str, dict[str, str]] = {}
        for record in batch.records:
            keys = parse_destination_id(record.destination_id)
            if keys:
                rows[record.record_key] = keys
            else:
                result.rejected[record.record_key] = "no stored identifier hashes to remove"
        if rows:
            result.rejected.update(self._call("DELETE", rows))
        result.acknowledged = {
            key: compact_json(keys) for key, keys in rows.items() if key not in result.rejected
        }
        return result

    def _call(self, method: str, rows: dict[str, dict[str, str]]) -> dict[str, str]:
        """Send one request; returns the rows Meta reported invalid, with its reasons."""
        payload = users_payload(list(rows.values()))
        session = {
            "session_id": random.getrandbits(62) + 1,
            "batch_seq": 1,
            "last_batch_flag": True,
            "estimated_num_total": len(rows),
        }
        form = {
            "payload": json.dumps(payload, separators=(",", ":")),
            "session": json.dumps(session, separators=(",", ":")),
            "access_token": reveal(self.credentials["access_token"]),
        }
        response = self.client.request(method, self.url, data=form)
        if not 200 <= response.status_code < 300:
            raise DestinationError(redact(describe_error(response), self.client.secrets))
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        return self._invalid_rows(answer if isinstance(answer, dict) else {}, rows)

    def _invalid_rows(
        self, answer: dict[str, Any], rows: dict[str, dict[str, str]]
    ) -> dict[str, str]:
        samples = answer.get("invalid_entry_samples")
        samples = samples if isinstance(samples, dict) else {}
        owner = {value: key for key, keys in rows.items() for value in keys.values()}
        rejected: dict[str, str] = {}
        for sample, reason in samples.items():
            # The map is {entry: reason}; tolerate it the other way round.
            for value, why in ((str(sample), reason), (str(reason), sample)):
                if value in owner:
                    detail = redact(str(why), self.client.secrets)
                    rejected[owner[value]] = f"Meta rejected the entry: {detail}"
                    break
        invalid = answer.get("num_invalid_entries")
        if isinstance(invalid, int) and invalid > len(rejected):
            log.warning(
                "Meta audience %s: %d invalid entries, %d of them identified",
                self.config.audience_id,
                invalid,
                len(rejected),
            )
        return rejected
