"""What the engine hands a destination and what it expects back."""

from __future__ import annotations

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
