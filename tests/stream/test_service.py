"""`cdp stream` as a process: kill -9 after events were acknowledged loses none of them (the log
and, after a restart, the landing files hold each exactly once), SIGTERM stops it cleanly with
everything landed, and a non-loopback host without a write key is refused."""

from __future__ import annotations

import csv
import threading
import time
from pathlib import Path

import requests
from click.testing import CliRunner
from segment.analytics import Client as SegmentClient

from cdp.cli import main
from cdp.stream.eventlog import EventLog
from cdp.stream.landing import landed_files
from cdp.stream.service import StreamService, is_loopback
from tests.stream.conftest import WRITE_KEY, free_port
from tests.stream.process import StreamProcess, wait_for


def _stream(tmp_path: Path, port: int) -> StreamProcess:
    return StreamProcess(
        port=port,
        raw_dir=tmp_path / "raw",
        duckdb_path=tmp_path / "warehouse" / "cdp.duckdb",
        stream_dir=tmp_path / "stream",
        output=tmp_path / f"stream-{time.monotonic_ns()}.log",
        environment={"CDP_WRITE_KEY": WRITE_KEY, "CDP_LANDING_FORMAT": "csv"},
        extra_args=["--flush-seconds", "0.2"],
    ).wait_until_healthy()


def _landed_ids(raw_dir: Path) -> list[str]:
    ids = []
    for path in landed_files(raw_dir):
        with path.open(newline="") as handle:
            ids += [row["message_id"] for row in csv.DictReader(handle)]
    return ids


def test_kill_9_after_acknowledged_events_loses_none_and_lands_each_once(tmp_path):
    port = free_port()
    stream = _stream(tmp_path, port)
    acknowledged: list[str] = []
    stop = threading.Event()

    def send(worker: int) -> None:
        session = requests.Session()
        number = 0
        while not stop.is_set():
            batch = [
                {
                    "type": "track" if n % 2 else "identify",
                    "userId": f"u{worker}",
                    "event": "Product Viewed",
                    "messageId": f"w{worker}-{number}-{n}",
                    "traits": {"email": f"p{worker}@example.com"},
                }
                for n in range(5)
            ]
            number += 1
            try:
                response = session.post(
                    f"{stream.url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=5
                )
            except requests.RequestException:
                return  # the server died mid-request: that batch was never acknowledged
            if response.status_code == 200:
                acknowledged.extend(message["messageId"] for message in batch)

    senders = [threading.Thread(target=send, args=(worker,)) for worker in range(4)]
    for sender in senders:
        sender.start()
    try:
        assert wait_for(lambda: len(acknowledged) >= 500)
        time.sleep(0.5)  # let the landing writer be somewhere in the middle of a flush
    finally:
        stream.kill()
        stop.set()
    for sender in senders:
        sender.join(timeout=30)
    assert acknowledged

    logged = [event.message["messageId"] for event in EventLog(tmp_path / "stream" / "log").read()]
    assert set(acknowledged) <= set(logged)
    assert len(logged) == len(set(logged))

    restarted = _stream(tmp_path, port)
    try:
        assert wait_for(lambda: len(_landed_ids(tmp_path / "raw")) >= len(logged))
    finally:
        assert restarted.terminate() == 0
    landed = _landed_ids(tmp_path / "raw")
    assert sorted(landed) == sorted(logged)  # every logged event landed, none twice
    assert not list((tmp_path / "raw").rglob(".*.tmp"))


def test_sigterm_lands_everything_and_exits_cleanly(tmp_path):
    stream = _stream(tmp_path, free_port())
    try:
        client = SegmentClient(WRITE_KEY, host=stream.url, sync_mode=True, max_retries=0)
        for number in range(20):
            client.track(user_id="u1", event="Order Completed", message_id=f"m{number}")
            client.group(user_id="u1", group_id="g1", message_id=f"g{number}")
    except BaseException:
        stream.kill()
        raise
    assert stream.terminate() == 0
    ids = _landed_ids(tmp_path / "raw")
    assert sorted(ids) == sorted([f"m{n}" for n in range(20)] + [f"g{n}" for n in range(20)])


def test_a_public_host_without_a_write_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("CDP_WRITE_KEY", raising=False)
    (tmp_path / "raw").mkdir()
    result = CliRunner().invoke(
        main,
        [
            "stream",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
            "--raw-dir",
            str(tmp_path / "raw"),
            "--stream-dir",
            str(tmp_path / "stream"),
        ],
    )
    assert result.exit_code != 0
    assert "CDP_WRITE_KEY" in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10")


class CountingWorker:
    name = "counting"

    def __init__(self):
        self.steps = 0
        self.closed = False

    def step(self) -> bool:
        self.steps += 1
        if self.steps == 3:
            raise RuntimeError("a failing step is retried, not fatal")
        return False

    def close(self) -> None:
        self.closed = True


def test_extra_workers_run_on_their_own_thread_and_are_closed(tmp_path):
    from cdp.pipeline import Settings

    settings = Settings(raw_dir=tmp_path / "raw", duckdb_path=tmp_path / "cdp.duckdb")
    worker = CountingWorker()
    service = StreamService(settings, tmp_path / "stream", extra_workers=[worker])
    service.start_workers()
    assert wait_for(lambda: worker.steps >= 5, seconds=10)
    service.shutdown()
    assert worker.closed
    assert [thread.errors for thread in service.threads if thread.name == "counting"] == [1]
