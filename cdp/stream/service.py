"""`cdp stream`: the collector and the stream's background workers in one process.

The collector (uvicorn serving cdp.stream.collector) answers the HTTP Tracking API; each
worker runs on its own thread, in a loop: `step()` returns whether it did some work, and the
loop sleeps a little when it did not. Workers: the landing writer (cdp.stream.landing), and
whatever `realtime_workers()` builds (the real-time evaluator and the real-time syncs).
SIGTERM and SIGINT stop the server (requests in flight are answered), then the workers
(each gets `close()`), then the log.

A heartbeat worker (cdp.stream.health) writes `health.json` every `health_seconds`, and once
more, marked stopped, after the others finished. The stream directory's layout is in
cdp/stream/paths.py.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

from cdp.stream.collector import Collector
from cdp.stream.eventlog import EventLog
from cdp.stream.health import HealthReporter
from cdp.stream.landing import LandingWriter
from cdp.stream.paths import StreamPaths
from cdp.stream.rt_workers import build_workers

logger = logging.getLogger(__name__)


class Worker(Protocol):
    """A background job of the stream: called in a loop on its own thread."""

    def step(self) -> bool:
        """Do a bounded piece of work; whether there was any."""

    def close(self) -> None:
        """Finish (flush what is held) and release resources; called once, on the same thread."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HostRefused(ValueError):
    """A collector on a non-loopback host without a write key."""


def check_host(host: str, write_key: str | None) -> None:
    if not is_loopback(host) and not write_key:
        raise HostRefused(
            f"refusing to listen on {host} without a write key: set CDP_WRITE_KEY (clients send"
            " it as the HTTP Basic user name), or listen on 127.0.0.1"
        )


def realtime_workers(settings, log: EventLog, paths: StreamPaths) -> list[Worker]:
    """The real-time evaluator's and the real-time syncs' workers, built for this process.

    The one place they are constructed: the evaluator reads `log` from the offset it commits
    with its effects in `<root>/state.duckdb`, where the real-time syncs read its memberships.
    """
    return build_workers(settings, paths.root, log_dir=log.directory)


WorkerFactory = Callable[[object, EventLog, StreamPaths], Sequence[Worker]]


class WorkerThread:
    """Runs one worker's loop until stopped; an error is logged (its type only) and retried."""

    def __init__(self, worker: Worker, stop: threading.Event, idle_seconds: float = 0.05):
        self.worker = worker
        self.stop = stop
        self.idle_seconds = idle_seconds
        name = getattr(worker, "name", type(worker).__name__)
        self.name = str(name)
        self.errors = 0
        self.last_error: str | None = None  # the type only
        self.thread = threading.Thread(target=self._run, name=f"stream-{self.name}", daemon=True)

    def _run(self) -> None:
        backoff = self.idle_seconds
        while not self.stop.is_set():
            try:
                did_work = self.worker.step()
            except Exception as error:  # keep the stream up; the next step retries
                self.errors += 1
                self.last_error = type(error).__name__
                # the type only: messages of errors over events can carry their content
                logger.error("stream worker %s failed: %s", self.name, type(error).__name__)
                backoff = min(max(backoff * 2, 0.1), 5.0)
                self.stop.wait(backoff)
                continue
            backoff = self.idle_seconds
            if not did_work:
                self.stop.wait(self.idle_seconds)
        try:
            self.worker.close()
        except Exception as error:
            logger.error("stream worker %s failed to close: %s", self.name, type(error).__name__)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)


class _Stop(Exception):
    pass


class StreamService:
    """The collector, the landing writer and the extra workers, started and stopped together."""

    def __init__(
        self,
        settings,
        stream_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 8088,
        write_key: str | None = None,
        extra_workers: Iterable[Worker] = (),
        worker_factory: WorkerFactory | None = realtime_workers,
        flush_seconds: float = 2.0,
        max_pending: int = 50_000,
        max_connections: int = 1_000,
        health_seconds: float = 5.0,
    ):
        check_host(host, write_key)
        self.max_connections = max_connections
        self.settings = settings
        self.paths = StreamPaths(Path(stream_dir))
        self.host = host
        self.port = port
        self.log = EventLog(self.paths.log_dir)
        self.collector = Collector(
            self.log, self.paths.reject_dir, write_key=write_key, max_pending=max_pending
        )
        landing = LandingWriter(
            EventLog(self.paths.log_dir),
            settings.raw_dir,
            self.paths.checkpoint_dir,
            landing_format=settings.landing_format,
            flush_seconds=flush_seconds,
        )
        workers: list[Worker] = [landing, *extra_workers]
        if worker_factory is not None:
            workers += list(worker_factory(settings, EventLog(self.paths.log_dir), self.paths))
        self._stop = threading.Event()
        self.threads = [WorkerThread(worker, self._stop) for worker in workers]
        self.reporter = HealthReporter(
            self.paths,
            collector=self.collector.counters,
            workers=self.worker_health,
            listening=f"http://{host}:{port}",
            interval_seconds=health_seconds,
        )
        self.threads.append(WorkerThread(self.reporter, self._stop, idle_seconds=0.5))
        self._closed = False
        self.server = None

    def worker_health(self) -> dict[str, dict]:
        """Each worker's error count and, where it reports one, its `health()`."""
        report = {}
        for thread in self.threads:
            health = getattr(thread.worker, "health", None)
            if thread.worker is self.reporter:
                continue
            report[thread.name] = {
                "errors": thread.errors,
                "last_error": thread.last_error,
                **(health() if callable(health) else {}),
            }
        return report

    def start_workers(self) -> None:
        for thread in self.threads:
            thread.start()

    def shutdown(self) -> None:
        """Stop accepting, then stop the workers (each closes), then close the log. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.collector.close()
        self._stop.set()
        for thread in self.threads:
            thread.join()
        self.log.close()
        try:
            self.reporter.write(stopped=True)
        except OSError as error:
            logger.error("could not write the last heartbeat: %s", type(error).__name__)

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then shut down cleanly."""
        import uvicorn

        config = uvicorn.Config(
            self.collector.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=10,
            # connections and requests in flight beyond this get uvicorn's 503: with the
            # group committer's bound on pending messages, memory stays bounded under load
            limit_concurrency=self.max_connections,
        )
        self.server = uvicorn.Server(config)

        def stop(signum, frame):  # after uvicorn's own handling: leave run() cleanly
            raise _Stop()

        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.start_workers()
        try:
            self.server.run()
        except (_Stop, KeyboardInterrupt):
            pass
        finally:
            self.shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
