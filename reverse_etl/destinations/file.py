"""The default destination: each batch becomes a JSON-lines file on local disk.

It needs no credentials, so the whole pipeline runs end to end anywhere, and the files show
exactly what a real destination would have been sent.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from reverse_etl.destinations.base import Batch, BatchResult


class FileDestinationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    directory: Path = Path("reverse_etl_output")
    max_batch_size: int = Field(default=1000, ge=1)


class FileDestination:
    rate_limit_per_second: float | None = None

    def __init__(self, config: FileDestinationConfig) -> None:
        self.config = config
        self.max_batch_size = config.max_batch_size
        self._sequence = 0

    def send(self, batch: Batch) -> BatchResult:
        directory = self.config.directory / batch.sync_name
        directory.mkdir(parents=True, exist_ok=True)
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = directory / f"{stamp}-{self._sequence:06d}-{batch.operation}.jsonl"
        lines = [
            json.dumps(
                {"operation": r.operation, "record_key": r.record_key, "payload": r.payload},
                sort_keys=True,
            )
            for r in batch.records
        ]
        # Written under a temporary name and renamed, so a file that exists is complete.
        partial = path.with_suffix(".partial")
        partial.write_text("\n".join(lines) + "\n")
        os.replace(partial, path)
        return BatchResult(
            acknowledged={r.record_key: f"{path.name}:{n}" for n, r in enumerate(batch.records)},
            requests=0,
        )
