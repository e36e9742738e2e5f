"""The landing writer: the event log turned into files in the landing folders.

A consumer of the event log with its own checkpoint. Each flush takes the log's entries from
the checkpoint on (at most `max_events`, or whatever arrived once `flush_seconds` passed since
the oldest unflushed entry was first seen) and writes one file per landing table they touch,
in the deployment's format (`CDP_LANDING_FORMAT`, csv or parquet), with exactly the landing
contract's columns (cdp/landing.py):

    track                 -> events/tracks      (properties as JSON text)
    page                  -> events/tracks      event `Page Viewed`, name/category in properties
    screen                -> events/tracks      event `Screen Viewed`, the same way
    identify              -> events/identifies  (email from traits.email, traits as JSON text;
                                                 traits or else context.traits)
    alias                 -> events/identifies  previousId as anonymous_id, linked to userId
    group                 -> events/groups      (message_id, anonymous_id, user_id, group_id,
                                                 timestamp, traits); see GROUP_COLUMNS

Files are named by the log offsets they hold, `stream-<first>-<end>.<ext>`, written under a
name the intake skips (a leading dot), fsynced, then renamed into place. Before writing, the
range is recorded (`landing.intent`), so a writer that dies between the files and its
checkpoint rewrites the same range under the same names, byte for byte: the intake sees the
same files with the same content, and nothing is landed twice or lost.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cdp.landing import LANDING_TABLES
from cdp.stream.eventlog import (
    Checkpoint,
    EventLog,
    LoggedEvent,
    fsync_directory,
    write_json_atomically,
)

logger = logging.getLogger(__name__)

TRACKS = "events/tracks"
IDENTIFIES = "events/identifies"
GROUPS = "events/groups"
# Group calls are landed beside the contract's tables until the contract carries them.
GROUP_COLUMNS = ("message_id", "anonymous_id", "user_id", "group_id", "timestamp", "traits")
PAGE_EVENT = "Page Viewed"
SCREEN_EVENT = "Screen Viewed"
FILE_PREFIX = "stream-"


def _columns(table: str) -> tuple[str, ...]:
    if table in LANDING_TABLES:
        return tuple(LANDING_TABLES[table])
    if table == GROUPS:
        return GROUP_COLUMNS
    raise KeyError(table)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    return json.dumps(value, separators=(", ", ": "), sort_keys=True, default=str)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text != "" else None


def landing_rows(event: LoggedEvent) -> list[tuple[str, dict[str, str | None]]]:
    """The landing rows (table, row) one logged message becomes."""
    message = event.message
    common = {
        "message_id": _text(message.get("messageId")),
        "anonymous_id": _text(message.get("anonymousId")),
        "user_id": _text(message.get("userId")),
        "timestamp": _text(message.get("timestamp")),
    }
    if event.type == "track":
        return [
            (
                TRACKS,
                {
                    **common,
                    "event": _text(message.get("event")),
                    "properties": _json_text(message.get("properties") or {}),
                },
            )
        ]
    if event.type in ("page", "screen"):
        properties = dict(message.get("properties") or {})
        for field in ("name", "category"):
            if message.get(field) is not None:
                properties.setdefault(field, message[field])
        name = PAGE_EVENT if event.type == "page" else SCREEN_EVENT
        return [(TRACKS, {**common, "event": name, "properties": _json_text(properties)})]
    if event.type == "identify":
        # RudderStack's clients send identify traits in context.traits, as the spec allows
        context = message.get("context") if isinstance(message.get("context"), dict) else {}
        traits = message.get("traits") or context.get("traits") or {}
        email = traits.get("email") if isinstance(traits, dict) else None
        return [(IDENTIFIES, {**common, "email": _text(email), "traits": _json_text(traits)})]
    if event.type == "alias":
        return [
            (
                IDENTIFIES,
                {
                    **common,
                    "anonymous_id": _text(message.get("previousId")),
                    "email": None,
                    "traits": _json_text({}),
                },
            )
        ]
    if event.type == "group":
        return [
            (
                GROUPS,
                {
                    **common,
                    "group_id": _text(message.get("groupId")),
                    "traits": _json_text(message.get("traits") or {}),
                },
            )
        ]
    raise ValueError(f"unknown call type {event.type!r} at offset {event.offset}")


def _csv_bytes(columns: tuple[str, ...], rows: list[dict[str, str | None]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(column) is None else row[column] for column in columns])
    return buffer.getvalue().encode("utf-8")


def _write_parquet(path: Path, columns: tuple[str, ...], rows: list[dict[str, str | None]]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            column: pa.array([row.get(column) for row in rows], type=pa.string())
            for column in columns
        }
    )
    pq.write_table(table, path)


def write_atomically(
    path: Path, columns: tuple[str, ...], rows: list[dict[str, str | None]], fmt: str
) -> None:
    """Write `path` whole or not at all: a hidden temporary, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        with temporary.open("wb") as handle:
            handle.write(_csv_bytes(columns, rows))
            handle.flush()
            os.fsync(handle.fileno())
    elif fmt == "parquet":
        _write_parquet(temporary, columns, rows)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
    else:
        raise ValueError(f"landing format {fmt!r} is not csv or parquet")
    os.replace(temporary, path)
    fsync_directory(path.parent)


class LandingWriter:
    """A stream worker (`step()`, `close()`) landing the event log's entries as files."""

    name = "landing"

    def __init__(
        self,
        log: EventLog,
        raw_dir: Path,
        state_dir: Path,
        *,
        landing_format: str = "csv",
        max_events: int = 20_000,
        flush_seconds: float = 2.0,
        clock=time.monotonic,
    ):
        if landing_format not in ("csv", "parquet"):
            raise ValueError(f"landing format {landing_format!r} is not csv or parquet")
        self.log = log
        self.raw_dir = Path(raw_dir)
        self.state_dir = Path(state_dir)
        self.landing_format = landing_format
        self.max_events = max_events
        self.flush_seconds = flush_seconds
        self.clock = clock
        self.checkpoint = Checkpoint(self.state_dir / "landing.checkpoint.json")
        self.intent_path = self.state_dir / "landing.intent.json"
        self._committed = self.checkpoint.load()
        self._waiting_since: float | None = None
        self.landed = 0

    def file_name(self, first: int, end: int) -> str:
        return f"{FILE_PREFIX}{first:020d}-{end:020d}.{self.landing_format}"

    def _load_intent(self) -> range | None:
        try:
            intent = json.loads(self.intent_path.read_text())
        except FileNotFoundError:
            return None
        return range(int(intent["first"]), int(intent["end"]))

    def _save_intent(self, offsets: range) -> None:
        write_json_atomically(self.intent_path, {"first": offsets.start, "end": offsets.stop})

    def _next_range(self, force: bool) -> range | None:
        intent = self._load_intent()
        if intent is not None and intent.start == self._committed:
            return intent  # a flush that did not finish: redo exactly that range
        available = self.log.end_offset() - self._committed
        if available <= 0:
            self._waiting_since = None
            return None
        now = self.clock()
        if self._waiting_since is None:
            self._waiting_since = now
        due = force or available >= self.max_events
        if not due and now - self._waiting_since < self.flush_seconds:
            return None
        end = self._committed + min(available, self.max_events)
        return range(self._committed, end)

    def land(self, offsets: range) -> dict[str, int]:
        """Write the files of one offset range; rows per table."""
        by_table: dict[str, list[dict[str, str | None]]] = {}
        expected = offsets.start
        for event in self.log.read(offsets.start, limit=len(offsets)):
            if event.offset != expected:
                raise RuntimeError(f"event log gap: expected offset {expected}, got {event.offset}")
            expected += 1
            for table, row in landing_rows(event):
                by_table.setdefault(table, []).append(row)
        if expected != offsets.stop:
            raise RuntimeError(f"event log ends at {expected}, before {offsets.stop}")
        name = self.file_name(offsets.start, offsets.stop)
        for table, rows in sorted(by_table.items()):
            write_atomically(
                self.raw_dir / table / name, _columns(table), rows, self.landing_format
            )
        return {table: len(rows) for table, rows in by_table.items()}

    def step(self, force: bool = False) -> bool:
        offsets = self._next_range(force)
        if offsets is None:
            return False
        self._save_intent(offsets)
        counts = self.land(offsets)
        self.checkpoint.save(offsets.stop)
        self.intent_path.unlink(missing_ok=True)
        self._committed = offsets.stop
        self._waiting_since = None
        self.landed += len(offsets)
        logger.info(
            "landed offsets %d-%d: %s",
            offsets.start,
            offsets.stop - 1,
            ", ".join(f"{table} {count}" for table, count in sorted(counts.items())),
        )
        return True

    def health(self) -> dict[str, Any]:
        """For the heartbeat: the first offset not yet landed, and how many were landed."""
        return {"committed_offset": self._committed, "landed": self.landed}

    def flush(self) -> None:
        """Land everything in the log now (shutdown, tests)."""
        while self.step(force=True):
            pass

    def close(self) -> None:
        self.flush()


def landed_files(raw_dir: Path, tables: Iterable[str] = (TRACKS, IDENTIFIES, GROUPS)) -> list[Path]:
    """The files the landing writer wrote, by table folder and name."""
    return sorted(
        path
        for table in tables
        for path in (Path(raw_dir) / table).glob(f"{FILE_PREFIX}*")
        if not path.name.startswith(".")
    )
