"""The real-time workers of `cdp stream`, built in one call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdp.pipeline import Settings
from cdp.stream.evaluator import Evaluator
from cdp.stream.syncs import RealtimeSyncs


def build_workers(settings: Settings, stream_dir: Path, **evaluator_options: Any) -> list:
    """The evaluator and the real-time syncs, each with `step() -> bool` and `close()`.

    The evaluator reads the event log in `<stream_dir>/log` unless `log_dir` is given, and
    keeps its state in `<stream_dir>/state.duckdb`, where the syncs read.
    """
    return [
        Evaluator(settings, stream_dir, **evaluator_options),
        RealtimeSyncs(settings, stream_dir),
    ]
