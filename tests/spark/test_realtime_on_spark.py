"""The real-time evaluation on Spark Structured Streaming gives what the DuckDB evaluator gives.

The same events (an anonymous visitor who identifies and adds to the cart, a known customer
who adds and then buys, a visitor nobody knows) go into one event log; the DuckDB evaluator
(over the sample built on DuckDB) and the Spark streaming query (over the sample built on
Spark, reading the log through the `cdp_event_log` source) evaluate them at the same time.
Their members of every real-time segment are equal, row for row. Restarted on its checkpoint
after more events, the Spark query reads only those, and no change is written twice.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.spark.conftest import AS_OF, SparkBuild, missing_requirement
from tests.stream.conftest import identify, pick_customer, track

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]

NOW = datetime.fromisoformat(AS_OF) + timedelta(hours=1)


def append(log_dir: Path, *entries) -> None:
    from cdp.stream.eventlog import EventLog

    log = EventLog(log_dir)
    try:
        log.append(list(entries))
    finally:
        log.close()


def duckdb_members(evaluator) -> set[tuple]:
    rows = evaluator.db.execute(
        "select segment_name, customer_id, is_holdout from rt.current_members"
    ).fetchall()
    return set(rows)


def spark_members(evaluator) -> set[tuple]:
    return {tuple(row) for row in evaluator.members().collect()}


def test_spark_streaming_agrees_with_the_duckdb_evaluator_and_resumes_on_its_checkpoint(
    spark_sample: SparkBuild, duckdb_sample: Path, tmp_path: Path, monkeypatch
) -> None:
    from cdp.pipeline import Settings, release_dbt_connection
    from cdp.stream.evaluator import Evaluator
    from cdp.stream.rt_rules import compile_realtime_rules
    from cdp.stream.spark_evaluator import SparkEvaluator

    assert spark_sample.outcome.success, spark_sample.outcome.failures
    release_dbt_connection()
    warehouse = tmp_path / "duckdb" / "sample.duckdb"
    warehouse.parent.mkdir()
    shutil.copy(duckdb_sample, warehouse)
    first, first_shop, _ = pick_customer(warehouse)
    second, second_shop, _ = pick_customer(warehouse, f"customers.customer_id <> '{first}'")

    log_dir = tmp_path / "log"
    at = NOW - timedelta(minutes=30)
    append(
        log_dir,
        (
            "page",
            {
                "type": "page",
                "messageId": "s-1",
                "anonymousId": "anon-spark",
                "timestamp": at.isoformat() + "Z",
                "properties": {},
            },
        ),
        identify(at + timedelta(minutes=1), "s-2", anonymousId="anon-spark", userId=first_shop),
        track("Product Added", at + timedelta(minutes=2), "s-3", anonymousId="anon-spark"),
        track("Product Added", at + timedelta(minutes=3), "s-4", userId=second_shop),
        track("Product Added", at + timedelta(minutes=4), "s-5", anonymousId="anon-nobody"),
        track("Product Added", at + timedelta(minutes=4), "s-5", anonymousId="anon-nobody"),
    )

    duckdb_settings = Settings(
        duckdb_path=warehouse, dbt_target_path=duckdb_sample.parent / "sample-dbt-target"
    )
    duck = Evaluator(
        duckdb_settings,
        tmp_path / "duckdb-stream",
        log_dir=log_dir,
        clock=lambda: NOW,
        rules=compile_realtime_rules(Settings()),
    )
    for key, value in spark_sample.settings.as_env().items():
        monkeypatch.setenv(key, value)
    spark = SparkEvaluator(
        spark_sample.spark, spark_sample.settings, tmp_path / "spark-state", clock=lambda: NOW
    )
    checkpoint = tmp_path / "spark-checkpoint"
    try:
        while duck.step():
            pass
        spark.start(log_dir, checkpoint, available_now=True).awaitTermination(600)

        expected = duckdb_members(duck)
        cart = {(s, c) for s, c, _ in expected if s == "seg_cart_abandoners"}
        assert ("seg_cart_abandoners", first) in cart and ("seg_cart_abandoners", second) in cart
        assert any(c.startswith("rt-") for _, c in cart)  # the visitor nobody knows
        assert spark_members(spark) == expected

        # more events, and the query restarted on its checkpoint: only these are read
        append(
            log_dir,
            track("Order Completed", at + timedelta(minutes=10), "s-6", userId=second_shop),
            track("Product Added", at + timedelta(minutes=4), "s-5", anonymousId="anon-nobody"),
        )
        while duck.step():
            pass
        spark.start(log_dir, checkpoint, available_now=True).awaitTermination(600)
        assert ("seg_cart_abandoners", second) not in {(s, c) for s, c, _ in duckdb_members(duck)}
        assert spark_members(spark) == duckdb_members(duck)

        changes = spark.spark.read.parquet(str(tmp_path / "spark-state" / "changes"))
        of_second = [
            (row.change, row.reason)
            for row in changes.where(
                f"segment_name = 'seg_cart_abandoners' and customer_id = '{second}'"
            )
            .orderBy("batch_id")
            .collect()
        ]
        assert of_second == [("entered", "event"), ("exited", "event")]
        events = spark.spark.read.parquet(str(tmp_path / "spark-state" / "events"))
        assert events.count() == events.select("message_id").distinct().count()
        assert events.where("message_id = 's-5'").count() == 1  # redelivered: counted once
    finally:
        duck.close()
