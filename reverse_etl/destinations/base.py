"""What the engine hands a destination and what it expects back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from reverse_etl.redaction import Secret, SecretError, resolve_secret


@dataclass(frozen=True)
class Record:
    """One record of the delta.

    `operation` is add, change, remove or erase (a removal because the person asked to be
    forgotten: remove them, and call the destination's deletion API where it has one).
    `payload` is None for removals and erasures; `destination_id` is what the destination
    returned when the record was last acknowledged (an id, or whatever removal needs).
    """

    operation: str
    record_key: str
    payload: dict[str, Any] | None
    payload_hash: str | None
    destination_id: str | None = None


@dataclass(frozen=True)
class Batch:
    """Records that all share one operation, at most the destination's `max_batch_size`."""

    sync_name: str
    operation: str
    records: list[Record]


@dataclass
class BatchResult:
    """A destination's answer for one batch.

    Every record of the batch must be either acknowledged or rejected; a key in neither is
    treated as not sent and goes out again on the next run.
    """

    acknowledged: dict[str, str | None] = field(default_factory=dict)  # key -> destination id
    rejected: dict[str, str] = field(default_factory=dict)  # key -> reason
    requests: int = 1


class DestinationError(RuntimeError):
    """The destination refused a whole batch; the run stops and nothing of it is committed."""


def env_secret(name: str, what: str = "") -> Secret:
    """The secret in environment variable `name` (stripped, checked, registered for redaction).

    Raises DestinationError naming the variable, never its value, when it is unset or unusable.
    """
    try:
        return resolve_secret(name, what=what)
    except SecretError as error:
        raise DestinationError(str(error)) from None


def body_summary(response: Any) -> str:
    """A response body without known error fields, described by size and type, never shown.

    A vendor's error body may echo the request (emails, names): an error keeps the status,
    the vendor's error code and reason text (each destination extracts its known fields), and
    the rest of the body only as this description.
    """
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip() or "untyped"
    return f"({len(response.content or b'')}-byte {kind} body not shown)"


# The fields of a generic JSON error body worth keeping: codes and reason texts.
GENERIC_ERROR_FIELDS = (
    "code",
    "error_code",
    "status",
    "type",
    "title",
    "error",
    "message",
    "reason",
    "detail",
    "error_description",
)


def generic_error_detail(response: Any) -> str:
    """Codes and reasons from a JSON error body (`{"error": ..., "message": ...}`, also under
    `error` or in an `errors` list); else `body_summary`. Nested request data is never kept."""
    document = json_object(response.text if response.content else None)
    sources: list[dict[str, Any]] = [document]
    for nested in (document.get("error"), document.get("errors")):
        if isinstance(nested, dict):
            sources.append(nested)
        elif isinstance(nested, list):
            sources.extend(item for item in nested[:5] if isinstance(item, dict))
    parts: list[str] = []
    for source in sources:
        for name in GENERIC_ERROR_FIELDS:
            value = source.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                text = f"{name}={value}" if name in ("code", "error_code", "status") else str(value)
                if text not in parts:
                    parts.append(text)
    return "; ".join(parts) if parts else body_summary(response)


class Destination(Protocol):
    """Sends batches. A destination without a deletion API treats erase as remove."""

    max_batch_size: int
    rate_limit_per_second: float | None

    def send(self, batch: Batch) -> BatchResult: ...


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def chunks_within(items: list[Any], max_items: int, max_bytes: int) -> Iterator[list[Any]]:
    """Consecutive chunks of at most `max_items` whose JSON stays under `max_bytes`."""
    chunk: list[Any] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":")).encode()) + 1
        if chunk and (len(chunk) == max_items or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def compact_json(value: dict[str, Any]) -> str:
    """Canonical JSON text (sorted keys, no spaces), e.g. hashes kept as a destination id."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def json_object(value: str | None) -> dict[str, Any]:
    """The JSON object in `value`, or {} when it is empty, not JSON or not an object."""
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
