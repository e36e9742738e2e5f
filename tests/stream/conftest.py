"""A running collector on 127.0.0.1 (uvicorn on a free port, its own thread), per test."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import uvicorn

from cdp.stream.collector import Collector
from cdp.stream.eventlog import EventLog
from cdp.stream.service import StreamPaths

WRITE_KEY = "test-write-key"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.05)
    else:
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
