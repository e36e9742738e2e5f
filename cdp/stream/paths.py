"""Where `cdp stream` keeps its files, for the stream itself and for whoever watches it.

The stream directory (`--stream-dir`, else CDP_STREAM_DIR, else `stream/` beside the DuckDB
warehouse):

    log/           the event log (cdp/stream/eventlog.py)
    rejects/       rejected messages with their reasons (mode 0600)
    checkpoints/   each consumer's committed offset and state
    state.duckdb   the real-time evaluator's state and memberships (cdp/stream/evaluator.py)
    health.json    the running stream's heartbeat (cdp/stream/health.py)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STREAM_DIR_ENV = "CDP_STREAM_DIR"


@dataclass(frozen=True)
class StreamPaths:
    root: Path

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def reject_dir(self) -> Path:
        return self.root / "rejects"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def health_file(self) -> Path:
        return self.root / "health.json"


def default_stream_dir(duckdb_path: Path) -> Path:
    return Path(duckdb_path).parent / "stream"


def stream_dir_for(duckdb_path: Path, explicit: Path | None = None) -> Path:
    """The stream directory of a warehouse: `explicit`, else CDP_STREAM_DIR, else the default."""
    if explicit is not None:
        return Path(explicit).resolve()
    configured = os.environ.get(STREAM_DIR_ENV, "").strip()
    if configured:
        return Path(configured).resolve()
    return default_stream_dir(duckdb_path).resolve()
