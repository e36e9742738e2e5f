"""What a sync run produces: operations, statuses, counts and the records of a batch.

This module imports nothing from the package, so every other module (the engine, the state,
the destinations, the guard, and the application around the library) can use these types
without depending on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ADD, CHANGE, REMOVE, ERASE = "add", "change", "remove", "erase"
# Erase is a removal because the person asked to be forgotten: destinations with a deletion
# API call it as well. Operations sort in this order, so a run sends additions first.
OPERATIONS = (ADD, CHANGE, ERASE, REMOVE)

# A run's status in `reverse_etl.sync_runs`.
RUNNING = "running"
SUCCESS = "success"
FAILED = "failed"
BLOCKED = "blocked"  # by the mass-change guard
DRY_RUN = "dry_run"
ABANDONED = "abandoned"  # its process stopped before it finished


@dataclass(frozen=True)
class DeltaCounts:
    """What the destination holds and what one run would do to it."""

    held: int  # records in the acknowledged state
    desired: int  # records the source wants there (consented, not holdout, not erased)
    added: int
    changed: int
    removed: int  # removals the guard may hold back
    withdrawn: int  # removals of recorded consent withdrawals (never held back)
    erased: int  # erasures (never held back)

    @classmethod
    def from_row(cls, row: tuple) -> DeltaCounts:
        return cls(*(int(value or 0) for value in row))


@dataclass
class SyncRunResult:
    run_id: str
    sync_name: str
    status: str  # success | failed | blocked (by the mass-change guard) | dry_run
    started_at: datetime
    finished_at: datetime | None = None
    added: int = 0
    changed: int = 0
    removed: int = 0
    failed: int = 0
    skipped_consent: int = 0
    skipped_holdout: int = 0
    requests: int = 0
    error: str | None = None
    # What the mass-change guard found: why it refused the run (status blocked; in a dry
    # run, why it would), or that an override let a mass change through.
    mass_change: str | None = None
    counts: DeltaCounts | None = None
    planned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPERATIONS, 0))
    sample_payloads: list[dict[str, Any]] = field(default_factory=list)

    def count_acknowledged(self, operation: str, count: int) -> None:
        attribute = {ADD: "added", CHANGE: "changed", REMOVE: "removed", ERASE: "removed"}[
            operation
        ]
        setattr(self, attribute, getattr(self, attribute) + count)


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


@dataclass(frozen=True)
class BatchCommit:
    """What one acknowledged batch changes: committed all together, or not at all."""

    sync_name: str
    operation: str
    # (record key, payload hash, destination id) of every acknowledged record.
    acknowledged: list[tuple[str, str | None, str | None]]
    rejected: dict[str, str]  # record key -> the destination's reason
    max_rejection_attempts: int
    committed_at: datetime

    @property
    def removes(self) -> bool:
        return self.operation in (REMOVE, ERASE)

    @property
    def erases(self) -> bool:
        return self.operation == ERASE


@dataclass(frozen=True)
class DeadLetter:
    """A record the destination kept rejecting; it is left out of every run until replayed."""

    sync_name: str
    record_key: str
    operation: str
    reason: str | None
    attempts: int
    first_seen_at: datetime
    last_seen_at: datetime


class SyncConfigError(ValueError):
    """A sync file that cannot be used; the message names the sync and the field."""
