"""Start the hourly job when new landing files appear.

The cursor remembers every file seen per landing table as `name -> "size:mtime_ns"`, so a file
is new when its name was not seen or its size or modification time changed (a re-delivered
file). The run key is a digest of the new files: the same drop never starts two runs, even if
the cursor update is lost.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dagster import (
    Definitions,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from cdp.intake import is_landing_file
from cdp.landing import LANDING_TABLES
from cdp.pipeline import Settings
from orchestration.schedules import HOURLY_JOB_NAME

# table -> file name -> "size:mtime_ns"
Snapshot = dict[str, dict[str, str]]


@dataclass(frozen=True)
class LandingFile:
    table: str
    name: str
    size: int
    mtime_ns: int

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.mtime_ns}"


def list_landing_files(raw_dir: Path, tables: Iterable[str] = LANDING_TABLES) -> list[LandingFile]:
    """Every file the landing intake reads (CSV, TSV, Parquet, gzipped or not, extensions in
    any case) directly under `<raw_dir>/<table>/`, sorted."""
    files = []
    for table in tables:
        folder = raw_dir / table
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if is_landing_file(path):
                stat = path.stat()
                files.append(LandingFile(table, path.name, stat.st_size, stat.st_mtime_ns))
    return files


def parse_cursor(cursor: str | None) -> Snapshot:
    return json.loads(cursor) if cursor else {}


def snapshot_of(files: Iterable[LandingFile]) -> Snapshot:
    snapshot: Snapshot = {}
    for file in files:
        snapshot.setdefault(file.table, {})[file.name] = file.fingerprint
    return snapshot


def new_files(
    files: Iterable[LandingFile], seen: Mapping[str, Mapping[str, str]]
) -> list[LandingFile]:
    """Files not in `seen`, or seen with another size or modification time."""
    return [file for file in files if seen.get(file.table, {}).get(file.name) != file.fingerprint]


def next_cursor(files: Iterable[LandingFile]) -> str:
    """The cursor after handling `files`: the current listing as compact JSON.

    Files that disappeared are forgotten, so the cursor stays as small as the landing folder.
    """
    return json.dumps(snapshot_of(files), sort_keys=True, separators=(",", ":"))


def run_key_for(files: Iterable[LandingFile]) -> str:
    digest = hashlib.sha256()
    for file in sorted(files, key=lambda f: (f.table, f.name)):
        digest.update(f"{file.table}/{file.name}@{file.fingerprint}\n".encode())
    return f"landing-{digest.hexdigest()[:16]}"


@sensor(
    name="landing_files_sensor",
    job_name=HOURLY_JOB_NAME,
    minimum_interval_seconds=60,
    description="Starts the hourly job when files land under CDP_RAW_DIR/<source>/<table>/.",
)
def landing_files_sensor(context: SensorEvaluationContext):
    raw_dir = Settings.from_env().raw_dir
    files = list_landing_files(raw_dir)
    seen = parse_cursor(context.cursor)
    fresh = new_files(files, seen)
    cursor = next_cursor(files)
    if not fresh:
        return SensorResult(
            skip_reason=SkipReason(f"No new landing files under {raw_dir}."), cursor=cursor
        )
    tables = sorted({file.table for file in fresh})
    context.log.info(f"{len(fresh)} new landing file(s) in {', '.join(tables)}")
    request = RunRequest(
        run_key=run_key_for(fresh),
        tags={
            "cdp/trigger": "landing_files",
            "cdp/new_files": str(len(fresh)),
            "cdp/tables": ",".join(tables)[:200],
        },
    )
    return SensorResult(run_requests=[request], cursor=cursor)


sensors = [landing_files_sensor]


def defs() -> Definitions:
    """The sensors area: the landing sensor (it starts the hourly job)."""
    return Definitions(sensors=sensors)
