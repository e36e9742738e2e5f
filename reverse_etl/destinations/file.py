"""The default destination: each batch becomes a JSON-lines file on local disk.

It needs no credentials, so the whole pipeline runs end to end anywhere, and the files show
exactly what a real destination would have been sent.

An erasure is this destination's deletion: besides the erase file, every earlier file of the
sync is rewritten without the erased records' lines (a file left empty is deleted), before the
batch is acknowledged. So no earlier payload of an erased person stays in the directory; the
erase files themselves carry only the record key.
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
        if batch.operation == "erase":
            erase_history(directory, {r.record_key for r in batch.records}, keep=path)
        return BatchResult(
            acknowledged={r.record_key: f"{path.name}:{n}" for n, r in enumerate(batch.records)},
            requests=0,
        )


def erase_history(directory: Path, record_keys: set[str], *, keep: Path) -> int:
    """Rewrite every JSON-lines file in `directory` but `keep` without the lines of these keys.

    Each file is streamed to a temporary name and renamed over the original, so a file is
    always either the old one or the rewritten one; a run that dies half-way leaves the batch
    unacknowledged and the next erase finishes the work. Returns the lines dropped.
    """
    dropped = 0
    for path in sorted(directory.glob("*.jsonl")):
        if path == keep:
            continue
        partial = path.with_suffix(".partial")
        kept = removed = 0
        with path.open(encoding="utf-8") as lines, partial.open("w", encoding="utf-8") as out:
            for line in lines:
                if line.strip() and json.loads(line).get("record_key") in record_keys:
                    removed += 1
                    continue
                out.write(line)
                kept += 1
        if not removed:
            partial.unlink()
        elif kept:
            os.replace(partial, path)
        else:
            partial.unlink()
            path.unlink()
        dropped += removed
    return dropped
