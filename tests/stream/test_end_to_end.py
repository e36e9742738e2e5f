"""The whole real-time path as a user runs it: the official Segment client sends to `cdp stream`
(a real process over the built sample), an anonymous visitor identifies mid-session and adds a
product to the cart, and the cart-abandoner sync writes that person to the file destination
within seconds; the events also reach the landing folders the batch reads. The same process
replays a small drop (`--replay`), whose cart abandoner reaches the file too, and reports its
health in `health.json` (`cdp stream --status`)."""

from __future__ import annotations

import time

from segment.analytics import Client as SegmentClient

from cdp.stream.health import HealthBounds, health_problems, read_health
from cdp.stream.landing import landed_files
from tests.stream.conftest import WRITE_KEY, Stream, free_port, pick_customer
from tests.stream.process import StreamProcess, wait_for
from tests.stream.test_operations import write_drop

SYNC = "cart_abandoners_to_file"


def test_segment_client_to_the_cart_abandoner_file_within_seconds(rt_warehouse, tmp_path):
    (tmp_path / "raw").mkdir()
    customer, shop_id, _ = pick_customer(rt_warehouse)
    replayed, replayed_shop_id, _ = pick_customer(
        rt_warehouse, f"customers.customer_id <> '{customer}'"
    )
    drop = write_drop(
        tmp_path / "drop",
        tracks=[("e2e-replayed", replayed_shop_id, "Product Added", "2025-06-30T10:00:00Z", "{}")],
    )
    stream = StreamProcess(
        port=free_port(),
        raw_dir=tmp_path / "raw",
        duckdb_path=rt_warehouse,
        stream_dir=tmp_path / "stream",
        output=tmp_path / "stream.log",
        environment={"CDP_WRITE_KEY": WRITE_KEY, "CDP_LANDING_FORMAT": "csv"},
        extra_args=["--flush-seconds", "0.2", "--replay", str(drop), "--replay-speed", "0"],
    )
    url = stream.url
    reader = Stream(None, tmp_path / "stream", None, {})
    try:
        stream.wait_until_healthy(120)
        # the evaluator has taken the build in and the syncs have run once (as of now, the
        # sample's 2025 history leaves nobody in the segment: every add below is a change)
        log_text = stream.output
        assert wait_for(lambda: f"{SYNC}: success" in log_text(), 180), log_text()
        client = SegmentClient(WRITE_KEY, host=url, sync_mode=True, max_retries=0)
        errors: list = []
        client.on_error = lambda error, batch: errors.append(error)
        visitor = "anon-e2e-visitor"
        client.page(anonymous_id=visitor, name="Home")
        client.identify(user_id=shop_id, anonymous_id=visitor, traits={})
        sent_at = time.monotonic()
        client.track(anonymous_id=visitor, event="Product Added", properties={"sku": "E2E"})
        client.flush()
        assert errors == []

        def added() -> bool:
            return any(
                line["record_key"] == customer and line["operation"] == "add"
                for line in reader.sent(SYNC)
            )

        assert wait_for(added, 30), stream.output()
        latency = time.monotonic() - sent_at
        assert latency < 10, f"{latency:.1f} s from the client to the file destination"
        assert wait_for(lambda: len(landed_files(tmp_path / "raw")) >= 2, 10)

        def replayed_added() -> bool:
            return any(line["record_key"] == replayed for line in reader.sent(SYNC))

        assert wait_for(replayed_added, 30), stream.output()
        assert "replay: done, 1 sent, 1 accepted" in stream.output()

        # the heartbeat (every 5 s) catches up with the evaluator's build and the events
        def healthy() -> bool:
            health = read_health(tmp_path / "stream")
            return not health_problems(health, HealthBounds()) and (
                health.summary()["accepted_since_start"] >= 4
            )

        assert wait_for(healthy, 15), read_health(tmp_path / "stream").summary()
    finally:
        assert stream.terminate() == 0
    added_lines = [line for line in reader.sent(SYNC) if line["record_key"] == customer]
    assert [line["operation"] for line in added_lines] == ["add"]
