"""Run a set of syncs against one warehouse, the way every entry point does.

`python -m reverse_etl`, the application's `cdp sync`/`cdp run` and the Dagster sync assets
share these steps: build every destination first (a refused configuration stops everything
before anything is sent), take the warehouse's sync lock (`lock.py`), mark the runs a stopped
process left `running` as abandoned, then run each sync, releasing its dead letters first when
asked, and keep going after a sync fails. What a caller prints is its own: it passes a
`SyncReporter`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from reverse_etl.config import SyncConfig
from reverse_etl.destinations import Destination, build_destinations, usable
from reverse_etl.engine import recorded_error, run_sync
from reverse_etl.interfaces import Warehouse
from reverse_etl.lock import sync_lock
from reverse_etl.results import BLOCKED, FAILED, SyncRunResult
from reverse_etl.state import clear_dead_letters, mark_abandoned_runs

ABANDONED_MESSAGE = "marked {count} run(s) left running by a stopped process as abandoned"


class SyncReporter(Protocol):
    """What a caller says about each step; the library decides when, the caller how."""

    def abandoned(self, count: int) -> None:
        """`count` (> 0) runs a stopped process left running were marked abandoned."""

    def replaying(self, sync_name: str, released: int) -> None: ...

    def failed(self, sync_name: str, message: str) -> None:
        """The sync raised; `message` is what the run log recorded (redacted)."""

    def planned(self, result: SyncRunResult) -> None:
        """A dry run's counts and samples."""

    def blocked(self, result: SyncRunResult) -> None:
        """The mass-change guard refused the run (`result.mass_change` says why)."""

    def finished(self, result: SyncRunResult) -> None: ...


def is_failure(result: SyncRunResult) -> bool:
    """Whether a run should make its caller exit non-zero: it failed or was blocked."""
    return result.status in (FAILED, BLOCKED)


def run_syncs(
    selected: Sequence[SyncConfig],
    destinations: dict[str, Destination | Exception],
    warehouse: Warehouse,
    report: SyncReporter,
    *,
    dry_run: bool = False,
    full_resync: bool = False,
    replay_dead_letters: bool = False,
    allow_mass_change: bool = False,
) -> list[SyncRunResult]:
    """Run each selected sync; a failing one is reported and the others still run.

    The caller holds the warehouse's sync lock, so a run still `running` here is a leftover
    of a stopped process and is marked abandoned first (not in a dry run, which writes
    nothing). A sync that raised is returned as a `failed` result with the recorded error.
    """
    if not dry_run:
        abandoned = mark_abandoned_runs(warehouse, datetime.now(UTC).replace(tzinfo=None))
        if abandoned:
            report.abandoned(abandoned)
    results: list[SyncRunResult] = []
    for sync in selected:
        if replay_dead_letters and not dry_run:
            report.replaying(sync.name, clear_dead_letters(warehouse, sync.name))
        try:
            result = run_sync(
                sync,
                warehouse,
                usable(destinations[sync.name]),
                dry_run=dry_run,
                full_resync=full_resync,
                allow_mass_change=allow_mass_change,
            )
        except Exception as error:  # recorded, redacted, in the run log by the engine
            message = recorded_error(error)
            report.failed(sync.name, message)
            results.append(
                SyncRunResult("", sync.name, FAILED, started_at=datetime.now(UTC), error=message)
            )
            continue
        results.append(result)
        if dry_run:
            report.planned(result)
        elif result.status == BLOCKED:
            report.blocked(result)
        else:
            report.finished(result)
    return results


def run_locked(
    selected: Sequence[SyncConfig],
    warehouse_path: Path,
    open_warehouse: Callable[[], Warehouse],
    report: SyncReporter,
    *,
    wait_seconds: float = 0,
    **options: bool,
) -> list[SyncRunResult]:
    """`run_syncs` under the warehouse's sync lock, on a warehouse opened while holding it.

    The destinations are built first (`build_destinations`: a destination refused by its
    configuration raises before the lock is taken or anything is sent). `warehouse_path` is
    the DuckDB file or Spark's directory: the lock and the file destination's root sit next
    to it. Another process holding the lock longer than `wait_seconds` raises WarehouseBusy.
    """
    destinations = build_destinations(list(selected), warehouse_path)
    with sync_lock(warehouse_path, wait_seconds=wait_seconds):
        warehouse = open_warehouse()
        try:
            return run_syncs(selected, destinations, warehouse, report, **options)
        finally:
            warehouse.close()
