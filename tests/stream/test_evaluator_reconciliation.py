"""Batch and stream agree: the sample's last days replayed through the stream, then the
build of the same days; the difference is exactly what the reconciliation logs, and after it
the real-time memberships equal the build's row for row."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import duckdb

from cdp import DEFAULT_RAW_DIR
from cdp.pipeline import Settings, release_dbt_connection
from cdp.stream.evaluator import parse_time
from tests.conftest import SAMPLE_AS_OF, build_warehouse
from tests.stream.conftest import Clock, Stream

EARLIER_AS_OF = "2025-06-26"


def _drop(since: datetime, until: datetime) -> list[tuple[str, dict]]:
    """The sample's web tracks and identifies in (since, until], as Segment calls, in time order."""
    calls = []
    with (DEFAULT_RAW_DIR / "events" / "tracks" / "part-00000.csv").open() as handle:
        for row in csv.DictReader(handle):
            calls.append(
                (
                    "track",
                    {
                        "type": "track",
                        "messageId": row["message_id"],
                        "event": row["event"],
                        "anonymousId": row["anonymous_id"] or None,
                        "userId": row["user_id"] or None,
                        "timestamp": row["timestamp"],
                        "properties": {},
                    },
                )
            )
    with (DEFAULT_RAW_DIR / "events" / "identifies" / "part-00000.csv").open() as handle:
        for row in csv.DictReader(handle):
            calls.append(
                (
                    "identify",
                    {
                        "type": "identify",
                        "messageId": row["message_id"],
                        "anonymousId": row["anonymous_id"] or None,
                        "userId": row["user_id"] or None,
                        "traits": {"email": row["email"]} if row["email"] else {},
                        "timestamp": row["timestamp"],
                    },
                )
            )
    timed = [(parse_time(message["timestamp"]), kind, message) for kind, message in calls]
    kept = [item for item in timed if item[0] is not None and since < item[0] <= until]
    return [
        (kind, message)
        for _, kind, message in sorted(kept, key=lambda item: (item[0], item[2]["messageId"]))
    ]


def _batch(warehouse: Path, segments) -> set[tuple[str, str, bool]]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return {
            (segment, customer, holdout)
            for segment in segments
            for customer, holdout in connection.execute(
                f"select customer_id, is_holdout from segments.{segment}"
            ).fetchall()
        }


def test_a_replayed_drop_agrees_with_the_build_after_reconciliation(
    realtime_rules, tmp_path, monkeypatch
):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    monkeypatch.setenv("CDP_AS_OF", EARLIER_AS_OF)
    build_warehouse(DEFAULT_RAW_DIR, warehouse)
    release_dbt_connection()
    settings = Settings(duckdb_path=warehouse, dbt_target_path=tmp_path / "warehouse-dbt-target")
    earlier, later = datetime.fromisoformat(EARLIER_AS_OF), datetime.fromisoformat(SAMPLE_AS_OF)
    stream = Stream(settings, tmp_path / "stream", Clock(earlier), dict(realtime_rules))
    stream.start()
    try:
        stream.evaluate()  # the first snapshot
        drop = _drop(earlier, later)
        assert any(message.get("event") == "Product Added" for _, message in drop)
        stream.append(*drop)
        stream.clock.now = later
        stream.evaluate()
        before = set(
            stream.state("select segment_name, customer_id, is_holdout from rt.current_members")
        )

        monkeypatch.setenv("CDP_AS_OF", SAMPLE_AS_OF)
        build_warehouse(DEFAULT_RAW_DIR, warehouse)
        release_dbt_connection()
        batch = _batch(warehouse, realtime_rules)
        stream.evaluate()  # the new build: compared, corrected, logged

        logged = set(
            stream.state("select segment_name, customer_id, change from realtime_reconciliations")
        )
        before_keys = {(segment, customer) for segment, customer, _ in before}
        batch_keys = {(segment, customer) for segment, customer, _ in batch}
        assert logged == (
            {(*key, "missing_in_stream") for key in batch_keys - before_keys}
            | {(*key, "extra_in_stream") for key in before_keys - batch_keys}
        )
        assert stream.state("select distinct as_of from realtime_reconciliations") in (
            [],
            [(later,)],
        )
        after = set(
            stream.state("select segment_name, customer_id, is_holdout from rt.current_members")
        )
        assert after == batch
        # The stream found most of what the build found from the same events.
        agreed = len(before_keys & batch_keys)
        assert agreed >= 0.8 * len(batch_keys), (agreed, len(batch_keys), sorted(logged)[:10])
    finally:
        stream.stop()
