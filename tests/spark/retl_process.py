"""`python -m tests.spark.retl_process prepare|show`: the kill test's Spark work, run in its own
process because the metastore (embedded Derby) admits one process at a time, and the sync
processes under test need it in between.

prepare: create segments.seg_vip (the kill test's members) as a Parquet table.
show: print the sync state's keys and the run log as JSON.
"""

from __future__ import annotations

import json
import sys

from cdp.pipeline import Settings
from cdp.spark import spark_session
from reverse_etl.spark_warehouse import SparkWarehouse
from tests.reverse_etl.test_kill import vip_rows


def main(command: str) -> None:
    settings = Settings.from_env()
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    warehouse = SparkWarehouse(spark_session(settings.as_env()))
    spark = warehouse.spark
    if command == "prepare":
        spark.sql("create schema if not exists segments")
        frame = spark.createDataFrame(
            vip_rows(),
            "customer_id string, is_holdout boolean, has_consent boolean, email string",
        )
        frame.write.format("parquet").saveAsTable("segments.seg_vip")
    elif command == "show":
        state = warehouse.fetchall("select record_key from reverse_etl.sync_state")
        runs = warehouse.fetchall(
            "select status, added from reverse_etl.sync_runs order by started_at"
        )
        print(json.dumps({"state": [key for (key,) in state], "runs": runs}))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1])
