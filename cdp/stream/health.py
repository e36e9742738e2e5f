"""How the stream is doing, from its files alone: for Dagster's checks, `cdp stream --status`
and anyone else watching, in another process than the stream's.

A running `cdp stream` writes a heartbeat, `health.json` in the stream directory, every few
seconds (`HealthReporter`, one of its workers): when it was written, since when the process
runs, what the collector accepted and rejected, its ingest rate over the last minute, and each
worker's progress (the evaluator's committed offset, when it last stepped and evaluated, the
landing writer's offset, the last real-time sync runs) and error count. A clean stop writes
`stopped_at`.

`read_health()` combines the heartbeat with what is on disk whatever the heartbeat says: the
event log's end, so the lag (events acknowledged and not yet evaluated) and the age of the
oldest unevaluated event are right even when the stream died; the reject log of the last hour.
`health_problems()` judges the result against `HealthBounds`:

    never started    no heartbeat: nothing evaluates the real-time segments
    down             the heartbeat is older than `max_heartbeat_age_seconds` (or says stopped)
    lagging          the oldest unevaluated event is older than `max_lag_seconds`
    stalled          the evaluator has not finished a step for `max_heartbeat_age_seconds`
    waiting          the evaluator has no build to evaluate against (`cdp run` first)
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cdp.stream.eventlog import EventLog, write_json_atomically
from cdp.stream.paths import StreamPaths

HEALTH_VERSION = 1
DEFAULT_INTERVAL_SECONDS = 5.0
THROUGHPUT_WINDOW_SECONDS = 60.0
REJECT_WINDOW = timedelta(hours=1)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- writing: the heartbeat ---------------------------------------------------------------


class HealthReporter:
    """A worker of `cdp stream`: writes the heartbeat every `interval_seconds`.

    `sources` are called for their part of the heartbeat (`collector()`, and each worker's
    `health()`); they read counters only, never the worker's own connections, since they run
    on this worker's thread.
    """

    name = "health"

    def __init__(
        self,
        paths: StreamPaths,
        *,
        collector: Callable[[], Mapping[str, Any]],
        workers: Callable[[], Mapping[str, Mapping[str, Any]]],
        listening: str,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.paths = paths
        self.collector = collector
        self.workers = workers
        self.listening = listening
        self.interval_seconds = interval_seconds
        self.clock = clock
        self.monotonic = monotonic
        self.started_at = clock()
        self._last_write = float("-inf")
        self._samples: deque[tuple[float, int]] = deque()

    def _throughput(self, accepted: int) -> float | None:
        now = self.monotonic()
        self._samples.append((now, accepted))
        while self._samples and now - self._samples[0][0] > THROUGHPUT_WINDOW_SECONDS:
            self._samples.popleft()
        first_time, first_count = self._samples[0]
        if now - first_time <= 0:
            return None
        return round((accepted - first_count) / (now - first_time), 1)

    def heartbeat(self, stopped: bool = False) -> dict[str, Any]:
        collector = dict(self.collector())
        now = self.clock()
        return {
            "version": HEALTH_VERSION,
            "written_at": _iso(now),
            "started_at": _iso(self.started_at),
            "stopped_at": _iso(now) if stopped else None,
            "pid": os.getpid(),
            "listening": self.listening,
            "interval_seconds": self.interval_seconds,
            "collector": collector,
            "accepted_per_second": self._throughput(int(collector.get("accepted", 0))),
            "workers": {name: dict(values) for name, values in self.workers().items()},
        }

    def write(self, stopped: bool = False) -> None:
        write_json_atomically(self.paths.health_file, self.heartbeat(stopped))
        self._last_write = self.monotonic()

    def step(self) -> bool:
        if self.monotonic() - self._last_write < self.interval_seconds:
            return False
        self.write()
        return True

    def close(self) -> None:
        """Nothing: the service writes the last heartbeat (`stopped=True`) once every other
        worker has finished."""


# --- reading: from disk -------------------------------------------------------------------


@dataclass(frozen=True)
class HealthBounds:
    max_lag_seconds: float = 60.0
    max_heartbeat_age_seconds: float = 60.0
    max_rejects_per_hour: int = 100


@dataclass
class StreamHealth:
    stream_dir: Path
    checked_at: datetime
    heartbeat: dict[str, Any] | None
    log_end_offset: int
    evaluated_offset: int | None
    oldest_unevaluated_at: datetime | None
    rejects_last_hour: int
    heartbeat_age_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def started(self) -> bool:
        return self.heartbeat is not None

    @property
    def evaluator(self) -> Mapping[str, Any]:
        workers = (self.heartbeat or {}).get("workers") or {}
        return workers.get("evaluator") or {}

    @property
    def lag_events(self) -> int | None:
        if self.evaluated_offset is None:
            return None
        return max(self.log_end_offset - self.evaluated_offset, 0)

    @property
    def lag_seconds(self) -> float:
        """How long the oldest acknowledged, unevaluated event has waited (0 when none)."""
        if self.oldest_unevaluated_at is None:
            return 0.0
        return max((self.checked_at - self.oldest_unevaluated_at).total_seconds(), 0.0)

    @property
    def seconds_since_evaluation(self) -> float | None:
        """Since the evaluator last finished a step (it steps when idle too)."""
        stepped = _time(self.evaluator.get("last_step_at"))
        if stepped is None:
            return None
        return max((self.checked_at - stepped).total_seconds(), 0.0)

    def summary(self) -> dict[str, Any]:
        """The figures, as plain values (Dagster metadata, `cdp stream --status --json`)."""
        heartbeat = self.heartbeat or {}
        collector = heartbeat.get("collector") or {}
        return {
            "stream_dir": str(self.stream_dir),
            "started": self.started,
            "pid": heartbeat.get("pid"),
            "started_at": heartbeat.get("started_at"),
            "stopped_at": heartbeat.get("stopped_at"),
            "heartbeat_age_seconds": _round(self.heartbeat_age_seconds),
            "log_end_offset": self.log_end_offset,
            "evaluated_offset": self.evaluated_offset,
            "lag_events": self.lag_events,
            "lag_seconds": _round(self.lag_seconds),
            "seconds_since_evaluation": _round(self.seconds_since_evaluation),
            "last_evaluated_at": self.evaluator.get("last_evaluated_at"),
            "snapshot_as_of": self.evaluator.get("snapshot_as_of"),
            "accepted_per_second": heartbeat.get("accepted_per_second"),
            "accepted_since_start": collector.get("accepted"),
            "rejected_since_start": collector.get("rejected"),
            "rejects_last_hour": self.rejects_last_hour,
            "worker_errors": {
                name: values.get("errors", 0)
                for name, values in (heartbeat.get("workers") or {}).items()
            },
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _read_heartbeat(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    try:
        heartbeat = json.loads(text)
    except ValueError:
        return None, f"{path.name} is not JSON"
    if not isinstance(heartbeat, dict):
        return None, f"{path.name} is not an object"
    return heartbeat, None


def count_rejects_since(reject_dir: Path, since: datetime) -> int:
    """Rejected messages received at or after `since`, from the daily reject files."""
    if not reject_dir.is_dir():
        return 0
    first_day = since.astimezone(UTC).strftime("%Y-%m-%d")
    count = 0
    for path in sorted(reject_dir.glob("*.jsonl")):
        if path.stem < first_day:
            continue
        with path.open("rb") as handle:
            for line in handle:
                try:
                    received = _time(json.loads(line).get("received_at"))
                except ValueError:
                    continue
                if received is not None and received >= since:
                    count += 1
    return count


def read_health(stream_dir: Path, now: datetime | None = None) -> StreamHealth:
    """The stream's health from the files in `stream_dir` (see the module docstring)."""
    paths = StreamPaths(Path(stream_dir))
    now = now or datetime.now(UTC)
    heartbeat, problem = _read_heartbeat(paths.health_file)
    log = EventLog(paths.log_dir)
    end = log.end_offset()
    evaluated = None
    oldest = None
    if heartbeat is not None:
        offset = (heartbeat.get("workers") or {}).get("evaluator", {}).get("committed_offset")
        evaluated = int(offset) if isinstance(offset, int) else None
    if evaluated is not None and evaluated < end:
        first = next(iter(log.read(evaluated, limit=1)), None)
        oldest = first.received_at if first is not None else None
    health = StreamHealth(
        stream_dir=paths.root,
        checked_at=now,
        heartbeat=heartbeat,
        log_end_offset=end,
        evaluated_offset=evaluated,
        oldest_unevaluated_at=oldest,
        rejects_last_hour=count_rejects_since(paths.reject_dir, now - REJECT_WINDOW),
    )
    if problem:
        health.notes.append(problem)
    if heartbeat is not None:
        written = _time(heartbeat.get("written_at"))
        if written is not None:
            health.heartbeat_age_seconds = max((now - written).total_seconds(), 0.0)
    return health


@dataclass(frozen=True)
class Problem:
    kind: str  # never_started | down | lagging | stalled | waiting | rejects
    sentence: str


def health_problems(health: StreamHealth, bounds: HealthBounds) -> list[Problem]:
    """What is wrong with the stream, worst first; empty when it is healthy."""
    if not health.started:
        note = f" ({'; '.join(health.notes)})" if health.notes else ""
        return [
            Problem(
                "never_started",
                f"cdp stream has never run with {health.stream_dir}{note}: the real-time"
                " segments change only at batch runs",
            )
        ]
    problems = []
    heartbeat = health.heartbeat or {}
    age = health.heartbeat_age_seconds
    if heartbeat.get("stopped_at"):
        problems.append(
            Problem(
                "down", f"cdp stream stopped at {heartbeat['stopped_at']} and was not restarted"
            )
        )
    elif age is None or age > bounds.max_heartbeat_age_seconds:
        shown = "unreadable" if age is None else f"{age:.0f} s old"
        problems.append(
            Problem(
                "down",
                f"cdp stream's heartbeat is {shown} (bound {bounds.max_heartbeat_age_seconds:g} s):"
                f" the process (pid {heartbeat.get('pid')}) is gone or hung",
            )
        )
    if health.lag_seconds > bounds.max_lag_seconds:
        problems.append(
            Problem(
                "lagging",
                f"{health.lag_events:,} acknowledged events not evaluated, the oldest for"
                f" {health.lag_seconds:.0f} s (bound {bounds.max_lag_seconds:g} s)",
            )
        )
    since = health.seconds_since_evaluation
    if not problems and since is not None and since > bounds.max_heartbeat_age_seconds:
        problems.append(
            Problem(
                "stalled",
                f"the real-time evaluator has not finished a step for {since:.0f} s"
                f" (bound {bounds.max_heartbeat_age_seconds:g} s)",
            )
        )
    if not problems and health.evaluator.get("waiting_for_build"):
        problems.append(
            Problem(
                "waiting",
                "the real-time evaluator waits for a batch build to evaluate against:"
                " run `cdp run`",
            )
        )
    return problems


def reject_problems(health: StreamHealth, bounds: HealthBounds) -> list[Problem]:
    if health.rejects_last_hour > bounds.max_rejects_per_hour:
        return [
            Problem(
                "rejects",
                f"{health.rejects_last_hour:,} events rejected in the last hour (bound"
                f" {bounds.max_rejects_per_hour:,}); reasons in {health.stream_dir / 'rejects'}",
            )
        ]
    return []


def status_lines(health: StreamHealth, problems: Iterable[Problem]) -> list[str]:
    """`cdp stream --status`: one line per figure, then the problems."""
    summary = health.summary()
    lines = [f"stream     {summary['stream_dir']}"]
    if not health.started:
        lines.append("state      never started")
    else:
        state = "stopped" if summary["stopped_at"] else f"running (pid {summary['pid']})"
        lines += [
            f"state      {state}, heartbeat {summary['heartbeat_age_seconds']} s ago",
            f"lag        {summary['lag_events']} events, oldest {summary['lag_seconds']} s",
            f"evaluated  last step {summary['seconds_since_evaluation']} s ago,"
            f" build as of {summary['snapshot_as_of']}",
            f"ingest     {summary['accepted_per_second']} events/s over the last minute,"
            f" {summary['accepted_since_start']} accepted since start",
        ]
    lines.append(f"rejected   {summary['rejects_last_hour']} in the last hour")
    lines += [f"PROBLEM    {problem.sentence}" for problem in problems]
    return lines
