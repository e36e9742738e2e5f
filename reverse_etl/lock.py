"""One sync at a time per warehouse: an advisory lock next to the warehouse.

Every entry point (`cdp sync`, `cdp run`, Dagster's sync assets, `python -m reverse_etl`) holds
`sync_lock(<warehouse>)` while it runs syncs. The lock is `<warehouse>.sync-lock` (next to the
DuckDB file, or to Spark's directory), locked with `flock`: the system releases it when the
process ends, however it ends, so a process killed with SIGKILL never leaves it held. The file
holds the pid of the process that has it, to name it in the message another process gets.

Holding the lock also tells the holder that no other process is running a sync on this
warehouse, so a run the run log still shows `running` was left by a process that stopped
(`state.mark_abandoned_runs`).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class WarehouseBusy(RuntimeError):
    """Another process holds the warehouse; the message is one line saying what to do."""


def lock_path(warehouse: Path) -> Path:
    warehouse = Path(warehouse).resolve()
    return warehouse.with_name(warehouse.name + ".sync-lock")


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"pid {pid}" if pid.isdigit() else "pid unknown"


@contextmanager
def sync_lock(warehouse: Path, wait_seconds: float = 0) -> Iterator[Path]:
    """Hold the warehouse's sync lock; raise WarehouseBusy if another process keeps it longer
    than `wait_seconds` (0: do not wait)."""
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"warehouse {Path(warehouse).resolve()} is busy: another sync is running"
                        f" ({_holder(path)}, lock {path}); wait for it to finish or stop that"
                        " process, then run again"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
