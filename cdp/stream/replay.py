"""`cdp stream --replay DIR`: a landing drop's events sent through the collector's HTTP API, as
if they happened now, so a newcomer sees the real-time memberships change live.

DIR is a landing folder (e.g. `cdp generate --drop 1 --out DIR`, or any folder with the
landing contract's `events/tracks` and `events/identifies` files, CSV or Parquet, gzipped or
not). Its events are read in the order of their timestamps (streamed by DuckDB, never loaded
whole) and posted to `/v1/batch` in batches of at most 100, with the write key:

- the drop's time runs `speed` times faster than real time (`--replay-speed`, default 60: an
  hour of the drop in a minute; 0: as fast as the collector takes them), a pause longer than
  a second of replay (a drop's late arrivals from weeks before) is shortened to a second, and
  every event carries the time it is sent as its `timestamp`, so windows such as "in the
  last 7 days" count it now;
- `message_id` is kept: replaying the same drop again changes no membership (the evaluator
  counts a message id once) and the batch staging keeps one row per message;
- a row whose timestamp cannot be read is sent last with its own value, for the collector to
  judge (it is then in the reject log with the reason, like any bad event); `properties` and
  `traits` that are not JSON objects are sent as they are, and rejected the same way.

A 429 or 503 is retried after its Retry-After; a 400 is counted (the reasons are in the
reject log) and the replay goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import requests

from cdp.intake import is_landing_file

TABLES = {"track": "events/tracks", "identify": "events/identifies"}
BATCH_MESSAGES = 100
BATCH_BYTES = 400 * 1024  # under the collector's (and Segment's) 500 KB per request
FETCH_ROWS = 1000
RETRY_SECONDS = 60.0
MAX_GAP_SECONDS = 1.0  # a longer pause between two events (late arrivals) is shortened to this


class ReplayError(Exception):
    """The replay cannot start or cannot go on (the message says why, for the user)."""


@dataclass
class ReplayResult:
    total: int = 0
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    unreadable_files: int = 0


def drop_files(directory: Path) -> dict[str, list[Path]]:
    """The event files of a drop, per call type."""
    directory = Path(directory)
    found = {}
    for kind, table in TABLES.items():
        folder = directory / table
        files = sorted(p for p in folder.iterdir() if is_landing_file(p)) if folder.is_dir() else []
        if files:
            found[kind] = files
    return found


def _reader(path: Path) -> str:
    quoted = "'" + str(path).replace("'", "''") + "'"
    if ".parquet" in path.name.lower():
        return f"read_parquet({quoted})"
    return f"read_csv({quoted}, all_varchar = true, header = true)"


_SELECT = {
    "track": (
        "select 'track' as kind, message_id, anonymous_id, user_id, event, null as email,"
        " properties as payload, cast(timestamp as varchar) as raw_timestamp from {reader}"
    ),
    "identify": (
        "select 'identify' as kind, message_id, anonymous_id, user_id, null as event, email,"
        " traits as payload, cast(timestamp as varchar) as raw_timestamp from {reader}"
    ),
}


def _readable_parts(
    connection: duckdb.DuckDBPyConnection, files: dict[str, list[Path]], warn: Callable[[str], None]
) -> tuple[list[str], int]:
    parts, unreadable = [], 0
    for kind, paths in files.items():
        for path in paths:
            sql = _SELECT[kind].format(reader=_reader(path))
            try:
                connection.execute(f"select count(*) from ({sql})").fetchone()
            except duckdb.Error as error:
                unreadable += 1
                warn(f"replay: skipped {path}: not readable ({type(error).__name__})")
                continue
            parts.append(sql)
    return parts, unreadable


def drop_events(
    directory: Path, warn: Callable[[str], None] = print
) -> tuple[int, int, Iterator[tuple[datetime | None, dict[str, Any]]]]:
    """(number of events, unreadable files, the events as (drop time, message) in time order).

    Raises ReplayError when the folder holds no readable event file."""
    files = drop_files(directory)
    if not files:
        tables = " or ".join(f"{table}/" for table in TABLES.values())
        raise ReplayError(
            f"no event files under {directory} ({tables}): generate a drop with"
            f" `cdp generate --drop 1 --out {directory}`"
        )
    connection = duckdb.connect()
    parts, unreadable = _readable_parts(connection, files, warn)
    if not parts:
        connection.close()
        raise ReplayError(f"none of the event files under {directory} can be read")
    union = " union all ".join(parts)
    connection.execute(
        f"create temp view drop_events as select *,"
        f" try_cast(raw_timestamp as timestamptz) as drop_time from ({union})"
    )
    (total,) = connection.execute("select count(*) from drop_events").fetchone()

    def rows() -> Iterator[tuple[datetime | None, dict[str, Any]]]:
        try:
            cursor = connection.execute(
                "select kind, message_id, anonymous_id, user_id, event, email, payload,"
                " raw_timestamp, drop_time from drop_events"
                " order by drop_time nulls last, kind desc, message_id"
            )
            while batch := cursor.fetchmany(FETCH_ROWS):
                for row in batch:
                    yield row[8], message_of(*row[:8])
        finally:
            connection.close()

    return total, unreadable, rows()


def _json_or_text(value: str | None) -> Any:
    if value is None or value == "":
        return {}
    try:
        return json.loads(value)
    except ValueError:
        return value


def message_of(
    kind: str,
    message_id: str | None,
    anonymous_id: str | None,
    user_id: str | None,
    event: str | None,
    email: str | None,
    payload: str | None,
    raw_timestamp: str | None,
) -> dict[str, Any]:
    """A landing row as the Segment message a client would have sent."""
    message: dict[str, Any] = {"type": kind}
    if message_id:
        message["messageId"] = message_id
    if anonymous_id:
        message["anonymousId"] = anonymous_id
    if user_id:
        message["userId"] = user_id
    if kind == "track":
        message["event"] = event
        message["properties"] = _json_or_text(payload)
    else:
        traits = _json_or_text(payload)
        if email and isinstance(traits, dict):
            traits = {**traits, "email": email}
        message["traits"] = traits
    if raw_timestamp:
        message["timestamp"] = raw_timestamp  # replaced by the send time when it was read
    return message


class Replayer:
    """Posts a drop's events to a collector at `url` (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        write_key: str | None = None,
        speed: float = 60.0,
        echo: Callable[[str], None] = print,
        progress_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if speed < 0:
            raise ReplayError("--replay-speed must be 0 (as fast as possible) or more")
        self.url = url.rstrip("/")
        self.speed = speed
        self.echo = echo
        self.progress_seconds = progress_seconds
        self.clock = clock
        self.sleep = sleep
        self.session = requests.Session()
        if write_key:
            self.session.auth = (write_key, "")

    def _post(self, batch: list[dict[str, Any]], result: ReplayResult) -> None:
        deadline = self.clock() + RETRY_SECONDS
        while True:
            try:
                response = self.session.post(
                    f"{self.url}/v1/batch", json={"batch": batch}, timeout=30
                )
            except requests.RequestException as error:
                if self.clock() > deadline:
                    raise ReplayError(f"the collector at {self.url} does not answer") from error
                self.sleep(1.0)
                continue
            if response.status_code in (429, 503) and self.clock() <= deadline:
                self.sleep(float(response.headers.get("Retry-After", "1") or 1))
                continue
            break
        result.sent += len(batch)
        if response.status_code == 200:
            result.accepted += len(batch)
        elif response.status_code == 400:
            body = response.json() if response.content else {}
            accepted = int(body.get("accepted", 0)) if isinstance(body, dict) else 0
            result.accepted += accepted
            result.rejected += len(batch) - accepted
        elif response.status_code == 401:
            raise ReplayError("the collector refused the write key: set CDP_WRITE_KEY")
        else:
            raise ReplayError(f"the collector answered {response.status_code} to a batch")

    def replay(self, directory: Path) -> ReplayResult:
        total, unreadable, events = drop_events(directory, warn=self.echo)
        result = ReplayResult(total=total, unreadable_files=unreadable)
        self.echo(f"replay: {total:,} events from {directory} at speed {self.speed:g}")
        due = self.clock()
        previous: datetime | None = None
        last_progress = due
        batch: list[dict[str, Any]] = []
        size = 0
        for drop_time, message in events:
            if drop_time is not None and self.speed > 0:
                if previous is not None:
                    gap = (drop_time - previous).total_seconds() / self.speed
                    due += min(gap, MAX_GAP_SECONDS)
                previous = drop_time
                wait = due - self.clock()
                if wait > 0:
                    if batch:  # what is due now goes out before waiting for the next
                        self._post(batch, result)
                        batch, size = [], 0
                    self.sleep(wait)
            if drop_time is not None:
                message["timestamp"] = datetime.now(UTC).isoformat()
            encoded = len(json.dumps(message, default=str))
            if batch and (len(batch) >= BATCH_MESSAGES or size + encoded > BATCH_BYTES):
                self._post(batch, result)
                batch, size = [], 0
            batch.append(message)
            size += encoded
            if self.clock() - last_progress >= self.progress_seconds:
                last_progress = self.clock()
                shown = f" (drop time {drop_time:%Y-%m-%d %H:%M})" if drop_time else ""
                self.echo(f"replay: {result.sent + len(batch):,} of {total:,} sent{shown}")
        if batch:
            self._post(batch, result)
        self.echo(
            f"replay: done, {result.sent:,} sent, {result.accepted:,} accepted,"
            f" {result.rejected:,} rejected (reasons in the stream's rejects/)"
        )
        return result
