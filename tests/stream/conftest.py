"""Fixtures of the stream tests: a running collector on 127.0.0.1 (uvicorn on a free port, its
own thread) per test, and the real-time evaluator and syncs over a copy of the sample build."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import uvicorn

from cdp import DEFAULT_RAW_DIR
from cdp.pipeline import Settings, release_dbt_connection
from cdp.stream.collector import Collector
from cdp.stream.eventlog import EventLog
from cdp.stream.paths import StreamPaths
from tests.conftest import SAMPLE_AS_OF, build_warehouse
from tests.stream.process import free_port, healthy, wait_for

WRITE_KEY = "test-write-key"


@dataclass
class RunningCollector:
    url: str
    paths: StreamPaths
    collector: Collector
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def log(self) -> EventLog:
        return EventLog(self.paths.log_dir)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.collector.close()
        self.collector.log.close()


def start_collector(stream_dir: Path, **options) -> RunningCollector:
    paths = StreamPaths(stream_dir)
    options.setdefault("write_key", WRITE_KEY)
    collector = Collector(EventLog(paths.log_dir), paths.reject_dir, **options)
    port = free_port()
    config = uvicorn.Config(
        collector.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    if not wait_for(lambda: healthy(url), 15):
        server.should_exit = True
        raise RuntimeError("the collector did not start")
    return RunningCollector(url, paths, collector, server, thread)


@pytest.fixture
def collector_server(tmp_path) -> Iterator[RunningCollector]:
    running = start_collector(tmp_path / "stream")
    try:
        yield running
    finally:
        running.stop()


# --- Real-time evaluator and syncs --------------------------------------------------------


@pytest.fixture(scope="session")
def built_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample built once per session as of SAMPLE_AS_OF (never written to:
    each test gets its own copy from `rt_warehouse`)."""
    duckdb_path = tmp_path_factory.mktemp("rt-sample") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", SAMPLE_AS_OF)
        build_warehouse(DEFAULT_RAW_DIR, duckdb_path)
    # dbt-duckdb keeps its connection open in this process, with the last writes in the WAL:
    # release it (a checkpoint) so that copying the file copies the whole build
    release_dbt_connection()
    return duckdb_path


@pytest.fixture(scope="session")
def realtime_rules(built_sample: Path):
    """The realtime segments compiled through dbt once per session."""
    from cdp.stream.rt_rules import compile_realtime_rules

    return compile_realtime_rules(Settings())


@pytest.fixture
def rt_warehouse(built_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built sample for one test, its activation folder inside tmp_path."""
    copy = tmp_path / "warehouse" / "warehouse.duckdb"
    copy.parent.mkdir()
    shutil.copy(built_sample, copy)
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    return copy


@dataclass
class Clock:
    """An injected clock: `now` moves only when a test moves it."""

    now: datetime = field(
        default_factory=lambda: datetime.fromisoformat(SAMPLE_AS_OF) + timedelta(hours=1)
    )

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Stream:
    """An evaluator and the real-time syncs over a copy of the sample, with a clock."""

    settings: Settings
    stream_dir: Path
    clock: Clock
    rules: dict
    workers: list = field(default_factory=list)

    def start(self, **options) -> list:
        from cdp.stream.evaluator import Evaluator
        from cdp.stream.syncs import RealtimeSyncs

        self.workers = [
            Evaluator(
                self.settings, self.stream_dir, clock=self.clock, rules=self.rules, **options
            ),
            RealtimeSyncs(self.settings, self.stream_dir),
        ]
        return self.workers

    @property
    def evaluator(self):
        return self.workers[0]

    @property
    def syncs(self):
        return self.workers[1]

    def stop(self) -> None:
        for worker in reversed(self.workers):
            worker.close()
        self.workers = []

    def append(self, *entries: tuple[str, dict]) -> None:
        from cdp.stream.eventlog import EventLog

        log = EventLog(self.stream_dir / "log")
        try:
            log.append(list(entries))
        finally:
            log.close()

    def evaluate(self) -> None:
        """Steps until the evaluator has nothing more to do."""
        for _ in range(100):
            if not self.evaluator.step():
                return
        raise AssertionError("the evaluator never settled")

    def state(self, sql: str, params: list | None = None) -> list[tuple]:
        return self.evaluator.db.execute(sql, params or []).fetchall()

    def sent(self, sync_name: str) -> list[dict]:
        """Every line the file destination wrote for the sync, in order."""
        import json
        import os

        root = Path(os.environ["CDP_ACTIVATION_DIR"]) / sync_name
        return [
            json.loads(line)
            for path in sorted(root.glob("*.jsonl"))
            for line in path.read_text().splitlines()
            if line.strip()
        ]


@pytest.fixture
def stream(rt_warehouse: Path, realtime_rules, tmp_path: Path) -> Iterator[Stream]:
    settings = Settings(duckdb_path=rt_warehouse, dbt_target_path=tmp_path / "dbt-target")
    running = Stream(settings, tmp_path / "stream", Clock(), dict(realtime_rules))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def pick_customer(
    warehouse: Path, where: str = "true", *, held_out: bool = False
) -> tuple[str, str, str]:
    """(customer_id, shop_customer_id, email) of a customer who can join seg_cart_abandoners:
    email consent, not unsubscribed or bounced, not a member, no Product Added in the last two
    weeks of history, and (not) in the segment's holdout."""
    bucket = (
        "cast(('0x' || substr(md5('seg_cart_abandoners:' || customers.customer_id), 1, 8))"
        " as ubigint) / 4294967296.0 < 0.1"
    )
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        row = connection.execute(
            f"""
            select customers.customer_id, shop.identifier_value, customers.email
            from core.customers
            inner join core.customer_traits as traits using (customer_id)
            inner join core.customer_identifiers as shop
                on shop.customer_id = customers.customer_id
                and shop.identifier_type = 'shop_customer_id'
            where customers.consent_email_marketing and customers.email is not null
                and not coalesce(traits.has_unsubscribed, false)
                and not coalesce(traits.has_bounced_or_complained, false)
                and not traits.is_erased
                and customers.customer_id not in (
                    select customer_id from segments.seg_cart_abandoners
                )
                and customers.customer_id not in (
                    select customer_id from segments.int_segments__customer_events
                    where event_name = 'Product Added'
                        and occurred_at > timestamp '{SAMPLE_AS_OF}' - interval 14 day
                )
                and ({bucket}) = {str(held_out).lower()}
                and shop.identifier_value not in (
                    select identifier_value from core.customer_identifiers
                    where identifier_type = 'shop_customer_id' group by 1 having count(*) > 1
                )
                and ({where})
            order by customers.customer_id
            limit 1
            """
        ).fetchone()
    assert row is not None, "the sample has no such customer"
    return row


def track(event: str, at: datetime, message_id: str, **ids: str) -> tuple[str, dict]:
    return (
        "track",
        {
            "type": "track",
            "event": event,
            "messageId": message_id,
            "timestamp": at.isoformat() + "Z",
            "properties": {},
            **ids,
        },
    )


def identify(at: datetime, message_id: str, **fields) -> tuple[str, dict]:
    return (
        "identify",
        {"type": "identify", "messageId": message_id, "timestamp": at.isoformat() + "Z", **fields},
    )


PickCustomer = Callable[..., tuple[str, str, str]]
