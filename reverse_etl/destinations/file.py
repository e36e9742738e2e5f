"""The default destination: each batch becomes a JSON-lines file on local disk.

It needs no credentials, so the whole pipeline runs end to end anywhere, and the files show
exactly what a real destination would have been sent.

Every file lands inside one root folder, the activation root: `CDP_ACTIVATION_DIR` when set,
else `activation/<warehouse name>` next to the warehouse (`warehouse/activation/cdp/` for
`warehouse/cdp.duckdb`). A sync's `directory` option is a folder inside that root; an absolute
path, a `..` or a symlink leading out of it is refused. The root belongs to one warehouse: its
first write records the warehouse in `<root>/.cdp-warehouse`, and another warehouse refuses to
write there, since its own sync state knows nothing of those files and would send everything
again into the same folder.

An erasure is this destination's deletion: besides the erase file, every earlier file of the
sync is rewritten without the erased records' lines (a file left empty is deleted), before the
batch is acknowledged. So no earlier payload of an erased person stays in the directory; the
erase files themselves carry only the record key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePath

from pydantic import BaseModel, ConfigDict, Field, field_validator

from reverse_etl.results import Batch, BatchResult, SyncConfigError

ACTIVATION_DIR_ENV = "CDP_ACTIVATION_DIR"
OWNER_FILE = ".cdp-warehouse"


class FileDestinationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # A folder inside the activation root (see the module docstring); `.` is the root itself.
    directory: Path = Path(".")
    max_batch_size: int = Field(default=1000, ge=1)

    @field_validator("directory")
    @classmethod
    def _inside_the_root(cls, value: Path) -> Path:
        path = PurePath(value)
        if path.is_absolute() or path.anchor:
            raise ValueError(
                f"directory {str(value)!r} is absolute; give a folder relative to"
                f" {ACTIVATION_DIR_ENV}"
            )
        if ".." in path.parts:
            raise ValueError(
                f"directory {str(value)!r} leaves {ACTIVATION_DIR_ENV} ('..');"
                " give a folder inside it"
            )
        return value


def activation_root(warehouse: Path | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where the file destination writes: CDP_ACTIVATION_DIR, else next to the warehouse.

    The default is `<warehouse's folder>/activation/<warehouse name without extension>`, so
    two warehouses with default settings never share a folder.
    """
    env = os.environ if environ is None else environ
    configured = env.get(ACTIVATION_DIR_ENV, "").strip()
    if configured:
        return Path(configured).resolve()
    if warehouse is None:
        raise SyncConfigError(
            f"the file destination needs {ACTIVATION_DIR_ENV} (or a warehouse to place its"
            " folder next to)"
        )
    warehouse = Path(warehouse).resolve()
    return warehouse.parent / "activation" / warehouse.stem


class FileDestination:
    rate_limit_per_second: float | None = None
    # An erase rewrites the sync's earlier files without the erased records' lines.
    supports_erase = True
    # It holds no credentials.
    secrets: list[str] = []  # noqa: RUF012

    def __init__(self, config: FileDestinationConfig, warehouse: Path | None = None) -> None:
        self.config = config
        self.max_batch_size = config.max_batch_size
        self._sequence = 0
        self.warehouse = str(Path(warehouse).resolve()) if warehouse is not None else None
        self.root = activation_root(warehouse)
        # Refused before anything is sent: a symlink out of the root, a root of another warehouse.
        self._inside_root(self.root / config.directory)
        self._check_owner()

    def _inside_root(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise SyncConfigError(
                f"file destination: directory '{self.config.directory}' leads to {resolved},"
                f" outside {ACTIVATION_DIR_ENV} {self.root} (a symlink?)"
            )
        return resolved

    def _owner(self) -> str | None:
        try:
            return json.loads((self.root / OWNER_FILE).read_text()).get("warehouse")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, AttributeError):
            return "(unreadable)"

    def _check_owner(self) -> None:
        owner = self._owner()
        if self.warehouse is None or owner is None or owner == self.warehouse:
            return
        raise SyncConfigError(
            f"{ACTIVATION_DIR_ENV} {self.root} holds the files of warehouse {owner}, not of"
            f" {self.warehouse}: give each warehouse its own {ACTIVATION_DIR_ENV} (if the"
            f" warehouse was moved, delete {self.root / OWNER_FILE})"
        )

    def _claim_root(self) -> None:
        """Record this warehouse as the root's owner on the first write (atomic: O_EXCL)."""
        if self.warehouse is None:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.root / OWNER_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            self._check_owner()
            return
        with os.fdopen(descriptor, "w") as owner_file:
            owner_file.write(json.dumps({"warehouse": self.warehouse}) + "\n")

    def send(self, batch: Batch) -> BatchResult:
        self._claim_root()
        directory = self.root / self.config.directory / batch.sync_name
        directory.mkdir(parents=True, exist_ok=True)
        directory = self._inside_root(directory)
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
