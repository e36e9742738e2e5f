"""The real-time syncs: the `schedule: realtime` syncs of dbt_project/syncs.yml, sent as the
real-time memberships change, through the same reverse-ETL engine as the batch syncs.

The engine runs over the evaluator's state database (`reverse_etl.warehouse.DuckDBWarehouse`),
where each sync's `source` (e.g. `segments.seg_cart_abandoners`) is a view of the real-time
members joined to the snapshot's customer fields, consent and holdout, and `core.customers`
serves the erasure relation (`cdp.stream.evaluator`). The sync state, rejections, dead
letters and the run log live in that database beside the memberships, so consent, holdouts,
erasure and the mass-change guard behave as in batch, and what a destination acknowledged is
never sent again, after a crash either. Batches stay within the sync's batch size and the
destination's own limit; the HTTP destinations keep their rate limits and retries.

A run starts when the memberships or the snapshot changed since the last one, and every
`retry_seconds` anyway (rejections and failed batches are retried). The run takes the sync
lock beside the state database, and the file destination writes where the batch syncs do
(next to the warehouse, or CDP_ACTIVATION_DIR).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from cdp.activation import project_syncs
from cdp.pipeline import Settings
from cdp.stream.snapshot import STATE_FILE
from reverse_etl.config import SyncConfig
from reverse_etl.destinations import build_destinations
from reverse_etl.lock import WarehouseBusy, sync_lock
from reverse_etl.results import SyncRunResult
from reverse_etl.runner import run_syncs
from reverse_etl.warehouse import DuckDBWarehouse

log = logging.getLogger(__name__)

REALTIME = "realtime"


def realtime_syncs(syncs: Sequence[SyncConfig] | None = None) -> list[SyncConfig]:
    """The syncs marked `schedule: realtime`."""
    return [
        sync for sync in (project_syncs() if syncs is None else syncs) if sync.schedule == REALTIME
    ]


class _Log:
    """The runner's reporter, to the log: counts and names, never a record."""

    def abandoned(self, count: int) -> None:
        log.warning(
            "%s real-time sync runs left running by a stopped process marked abandoned", count
        )

    def replaying(self, sync_name: str, released: int) -> None:
        log.info("%s: %s dead letters released", sync_name, released)

    def failed(self, sync_name: str, message: str) -> None:
        log.error("%s failed: %s", sync_name, message)

    def planned(self, result: SyncRunResult) -> None:
        pass

    def blocked(self, result: SyncRunResult) -> None:
        log.error("%s blocked by the mass-change guard: %s", result.sync_name, result.error)

    def finished(self, result: SyncRunResult) -> None:
        log.info("%s: %s", result.sync_name, result.status)


class RealtimeSyncs:
    """A worker of `cdp stream`: `step()` in a loop, `close()` at the end."""

    name = "realtime_syncs"

    def __init__(
        self,
        settings: Settings,
        stream_dir: Path,
        *,
        syncs: Sequence[SyncConfig] | None = None,
        retry_seconds: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state_path = Path(stream_dir) / STATE_FILE
        self.syncs = realtime_syncs(syncs)
        self.retry_seconds = retry_seconds
        self.monotonic = monotonic
        # Files go where the batch syncs put theirs: the activation root of the warehouse.
        self.destinations = build_destinations(self.syncs, settings.warehouse_path)
        self._seen: tuple[object, ...] | None = None
        self._last_run = float("-inf")
        self.last_results: list[SyncRunResult] = []

    def _version(self) -> tuple[object, ...] | None:
        """What the sources depend on: the last membership change and the snapshot."""
        with duckdb.connect(str(self.state_path)) as connection:
            try:
                (changes,) = connection.execute(
                    "select max(change_id) from realtime_memberships"
                ).fetchone()
                build = connection.execute("select marker from snap.build").fetchone()
            except duckdb.CatalogException:
                return None  # the evaluator has no snapshot yet
        return (changes, build[0] if build else None)

    def step(self) -> bool:
        if not self.syncs or not self.state_path.exists():
            return False
        try:
            with sync_lock(self.state_path):
                version = self._version()
                due = self.monotonic() - self._last_run >= self.retry_seconds
                if version is None or (version == self._seen and not due):
                    return False
                warehouse = DuckDBWarehouse.connect(self.state_path)
                try:
                    self.last_results = run_syncs(self.syncs, self.destinations, warehouse, _Log())
                    self._seen = version
                    self._last_run = self.monotonic()
                    return True
                finally:
                    warehouse.close()
        except WarehouseBusy:
            return False

    def health(self) -> dict[str, Any]:
        """For the heartbeat: the last run of each real-time sync."""
        return {
            "syncs": [sync.name for sync in self.syncs],
            "last_runs": [
                {
                    "sync_name": result.sync_name,
                    "status": result.status,
                    "finished_at": result.finished_at.isoformat() if result.finished_at else None,
                    "added": result.added,
                    "removed": result.removed,
                    "failed": result.failed,
                }
                for result in self.last_results
            ],
        }

    def close(self) -> None:
        for destination in self.destinations.values():
            close = getattr(destination, "close", None)
            if callable(close):
                close()
