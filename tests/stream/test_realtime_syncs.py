"""The real-time syncs: the same engine and state as batch, fed by the evaluator."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import duckdb

from cdp.activation import batch_syncs, project_syncs
from tests.stream.conftest import pick_customer, track

SYNC = "cart_abandoners_to_file"


def _keys(lines: list[dict], operation: str) -> list[str]:
    return [line["record_key"] for line in lines if line["operation"] == operation]


def test_realtime_syncs_are_left_to_the_stream():
    names = {sync.name for sync in project_syncs() if sync.schedule == "realtime"}
    assert {SYNC, "browsers_not_buying_to_file"} <= names
    assert not names & {sync.name for sync in batch_syncs(project_syncs())}


def test_a_new_member_is_sent_once_and_the_held_out_never(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    held_out, held_shop_id, _ = pick_customer(rt_warehouse, held_out=True)
    stream.evaluate()
    assert stream.syncs.step() is True
    first = stream.sent(SYNC)
    stream.append(
        track("Product Added", stream.clock(), "s-1", userId=shop_id),
        track("Product Added", stream.clock(), "s-2", userId=held_shop_id),
    )
    stream.evaluate()
    assert stream.syncs.step() is True
    assert stream.syncs.step() is False  # nothing changed since
    added = _keys(stream.sent(SYNC)[len(first) :], "add")
    assert added == [customer]
    assert held_out not in _keys(stream.sent(SYNC), "add")
    (run,) = stream.state(
        "select status from reverse_etl.sync_runs where sync_name = ?"
        " order by started_at desc limit 1",
        [SYNC],
    )
    assert run[0] == "success"


def test_consent_revoked_in_a_new_build_removes_the_person(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    stream.append(track("Product Added", stream.clock(), "r-1", userId=shop_id))
    stream.evaluate()
    stream.syncs.step()
    assert customer in _keys(stream.sent(SYNC), "add")

    with duckdb.connect(str(rt_warehouse)) as connection:
        connection.execute(
            "update core.customers set consent_email_marketing = false where customer_id = ?",
            [customer],
        )
    stream.clock.advance(minutes=10)
    stream.evaluate()  # the new build is noticed and copied
    assert stream.syncs.step() is True
    assert _keys(stream.sent(SYNC), "remove")[-1:] == [customer]


def test_a_restart_between_evaluation_and_sync_sends_no_change_twice(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    stream.syncs.step()
    stream.append(track("Product Added", stream.clock(), "k-1", userId=shop_id))
    stream.evaluate()
    stream.stop()  # evaluated, not sent
    stream.start()
    stream.evaluate()
    stream.syncs.step()
    stream.stop()
    stream.start()
    stream.evaluate()
    stream.syncs.step()
    upserts = _keys(stream.sent(SYNC), "add")
    assert upserts.count(customer) == 1
    assert len(upserts) == len(set(upserts))


def test_the_file_destination_gets_a_new_member_within_seconds(
    rt_warehouse, realtime_rules, tmp_path
):
    from cdp.pipeline import Settings
    from cdp.stream.eventlog import EventLog
    from cdp.stream.rt_workers import build_workers
    from tests.stream.conftest import Stream

    customer, shop_id, _ = pick_customer(rt_warehouse)
    settings = Settings(duckdb_path=rt_warehouse, dbt_target_path=tmp_path / "dbt-target")
    stream_dir = tmp_path / "stream"
    workers = build_workers(settings, stream_dir, rules=realtime_rules)
    stop = threading.Event()

    def loop(worker):
        while not stop.is_set():
            if not worker.step():
                time.sleep(0.05)

    threads = [threading.Thread(target=loop, args=(worker,), daemon=True) for worker in workers]
    for thread in threads:
        thread.start()
    try:
        reader = Stream(settings, stream_dir, None, {})
        deadline = time.monotonic() + 60
        while not reader.sent(SYNC) and time.monotonic() < deadline:
            time.sleep(0.1)  # the first snapshot's members
        log = EventLog(stream_dir / "log")
        sent_at = time.monotonic()
        log.append(
            [track("Product Added", datetime.now(UTC).replace(tzinfo=None), "f-1", userId=shop_id)]
        )
        log.close()
        while customer not in _keys(reader.sent(SYNC), "add") and time.monotonic() - sent_at < 30:
            time.sleep(0.05)
        latency = time.monotonic() - sent_at
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        for worker in workers:
            worker.close()
    assert customer in _keys(reader.sent(SYNC), "add")
    assert latency < 5, f"{latency:.1f} s from the log to the file"
