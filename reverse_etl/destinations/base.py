"""What the engine hands a destination and what it expects back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


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
