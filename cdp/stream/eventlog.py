"""The stream's durable event log: what the collector acknowledged, in the order it did.

Every accepted message is appended here, and on disk (written and fsynced), before the
collector answers 200. Everything downstream reads the log, never the HTTP requests: the
landing writer (which turns the log into the landing folders the batch path reads), the
real-time evaluator, and a distributed stream processor when one machine is not enough. Each
consumer keeps its own committed offset (`Checkpoint`), so a consumer that crashes resumes at
the first entry it had not committed, and the log is the one place an event can be replayed
from.

Layout, under the log directory:

    <first offset, 20 digits>.jsonl    one segment file; a new one starts past `segment_bytes`

Each line is one JSON object:

    {"offset": 17, "received_at": "2026-12-02T14:00:00.123456+00:00",
     "type": "track", "message": {...}}

`type` is the Segment call (track, identify, page, screen, group, alias) and `message` the
call's validated payload in Segment's own (camelCase) spelling, with `messageId` and
`timestamp` always present. Offsets start at 0 and increase by one per message, with no gaps.
A torn last line (the process died during a write that was never acknowledged) is ignored by
readers and cut off by the next writer.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

SEGMENT_SUFFIX = ".jsonl"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class LoggedEvent:
    offset: int
    received_at: datetime
    type: str
    message: dict[str, Any]


def _segment_name(first_offset: int) -> str:
    return f"{first_offset:020d}{SEGMENT_SUFFIX}"


def _segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob(f"*{SEGMENT_SUFFIX}"):
        stem = path.name[: -len(SEGMENT_SUFFIX)]
        if stem.isdigit():
            found.append((int(stem), path))
    return sorted(found)


_TAIL_CHUNK = 64 * 1024


def _line_offset(line: bytes) -> int:
    """The offset of one complete log line (`{"offset":N,...`), read without parsing it all."""
    head = line[:40]
    start = head.index(b":") + 1
    end = head.index(b",", start)
    return int(head[start:end])


def _complete_size(handle, size: int) -> int:
    """The byte length of the segment's whole lines: up to and including its last newline."""
    position = size
    while position > 0:
        begin = max(0, position - _TAIL_CHUNK)
        handle.seek(begin)
        chunk = handle.read(position - begin)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        position = begin
    return 0


def _last_line(handle, end: int) -> bytes | None:
    """The last whole line of a segment whose whole lines end at byte `end`."""
    if end == 0:
        return None
    position = end - 1  # the final newline
    collected = b""
    while position > 0:
        begin = max(0, position - _TAIL_CHUNK)
        handle.seek(begin)
        chunk = handle.read(position - begin) + collected
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return chunk[newline + 1 :]
        collected = chunk
        position = begin
    handle.seek(0)
    return handle.read(end - 1)


def _line_start_at_or_after(handle, position: int, end: int) -> int:
    """The byte position of the first line that starts at or after `position`."""
    if position == 0:
        return 0
    handle.seek(position - 1)
    while True:
        at = handle.tell()
        if at >= end:
            return end
        chunk = handle.read(min(_TAIL_CHUNK, end - at))
        newline = chunk.find(b"\n")
        if newline >= 0:
            return at + newline + 1


def _seek_offset(handle, end: int, target: int) -> int:
    """The byte position of the first line whose offset is >= target (binary search)."""
    low, high = 0, end  # invariant: every line starting before `low` has offset < target
    while low < high:
        middle = _line_start_at_or_after(handle, (low + high) // 2, end)
        if middle >= high:
            break
        handle.seek(middle)
        offset = _line_offset(handle.readline())
        if offset < target:
            low = handle.tell()
        else:
            high = middle
    # `low` is a line start; from here lines with offset < target are few (at most one probe gap)
    return _line_start_at_or_after(handle, low, end)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in `directory` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_json_atomically(path: Path, value: Any) -> None:
    """Write `value` as JSON to `path` whole or not at all: a temporary file beside it,
    fsynced and renamed over it, then the folder fsynced. A crash leaves the old or the new
    content, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as handle:
        json.dump(value, handle, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


class EventLog:
    """Append-only, fsynced, segmented JSON-lines log. Safe for threads of one process.

    One process writes a log directory at a time (the collector); any number read it.
    """

    def __init__(self, directory: Path, *, segment_bytes: int = DEFAULT_SEGMENT_BYTES):
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._lock = threading.Lock()
        self._file = None
        self._size = 0
        self._next_offset: int | None = None

    # Writing -------------------------------------------------------------------------------

    def _open_for_append(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        segments = _segments(self.directory)
        if not segments:
            self._start_segment(0)
            return
        first, path = segments[-1]
        with path.open("r+b") as handle:
            size = os.fstat(handle.fileno()).st_size
            end = _complete_size(handle, size)
            last = _last_line(handle, end)
            if end != size:
                handle.truncate(end)
                handle.flush()
                os.fsync(handle.fileno())
        self._next_offset = first if last is None else _line_offset(last) + 1
        self._file = path.open("ab", buffering=0)
        self._size = end

    def _start_segment(self, first_offset: int) -> None:
        if self._file is not None:
            self._file.close()
        path = self.directory / _segment_name(first_offset)
        self._file = path.open("ab", buffering=0)
        fsync_directory(self.directory)
        self._size = 0
        self._next_offset = first_offset

    def append(
        self, entries: Sequence[tuple[str, dict[str, Any]]], received_at: datetime | None = None
    ) -> range:
        """Append (type, message) pairs; return their offsets once they are on disk."""
        received = (received_at or datetime.now(UTC)).isoformat()
        with self._lock:
            if self._file is None:
                self._open_for_append()
            if self._size >= self.segment_bytes:
                self._start_segment(self._next_offset)
            first = self._next_offset
            lines = []
            for number, (kind, message) in enumerate(entries):
                record = {
                    "offset": first + number,
                    "received_at": received,
                    "type": kind,
                    "message": message,
                }
                lines.append(orjson.dumps(record, default=str))
            data = memoryview(b"\n".join(lines) + b"\n" if lines else b"")
            descriptor = self._file.fileno()
            try:
                written = 0
                while written < len(data):
                    written += os.write(descriptor, data[written:])
                os.fsync(descriptor)
            except OSError:
                # Disk full or an I/O error: nothing of this call is acknowledged, so nothing of
                # it may stay in the log (a later append would otherwise follow a torn line).
                self._roll_back()
                raise
            self._size += len(data)
            self._next_offset = first + len(entries)
            return range(first, self._next_offset)

    def _roll_back(self) -> None:
        try:
            os.ftruncate(self._file.fileno(), self._size)
            os.fsync(self._file.fileno())
        except OSError:
            pass  # the next writer cuts a torn tail off when it opens the segment
        self._file.close()
        self._file = None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    # Reading -------------------------------------------------------------------------------

    def end_offset(self) -> int:
        """The offset the next appended message will get (the number of messages so far)."""
        segments = _segments(self.directory) if self.directory.exists() else []
        if not segments:
            return 0
        first, path = segments[-1]
        with path.open("rb") as handle:
            end = _complete_size(handle, path.stat().st_size)
            last = _last_line(handle, end)
        return first if last is None else _line_offset(last) + 1

    def read(self, start: int = 0, limit: int | None = None) -> Iterator[LoggedEvent]:
        """Entries from offset `start` on (at most `limit`), in offset order.

        Streams: a segment is searched for `start` (its lines are in offset order) and read
        line by line, never whole; lines appended while reading may or may not be included.
        """
        if not self.directory.exists():
            return
        segments = _segments(self.directory)
        produced = 0
        for index, (first, path) in enumerate(segments):
            following = segments[index + 1][0] if index + 1 < len(segments) else None
            if following is not None and following <= start:
                continue
            with path.open("rb") as handle:
                end = _complete_size(handle, os.fstat(handle.fileno()).st_size)
                position = _seek_offset(handle, end, start) if start > first else 0
                handle.seek(position)
                while position < end:
                    line = handle.readline()
                    position += len(line)
                    record = orjson.loads(line)
                    if record["offset"] < start:
                        continue
                    yield LoggedEvent(
                        offset=record["offset"],
                        received_at=datetime.fromisoformat(record["received_at"]),
                        type=record["type"],
                        message=record["message"],
                    )
                    produced += 1
                    if limit is not None and produced >= limit:
                        return


class Checkpoint:
    """A consumer's committed offset (the first entry it has not finished), in one small file.

    Written with `write_json_atomically`: a crash leaves the old or the new offset.
    """

    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> int:
        try:
            return int(json.loads(self.path.read_text())["offset"])
        except FileNotFoundError:
            return 0

    def save(self, offset: int) -> None:
        write_json_atomically(self.path, {"offset": offset})
