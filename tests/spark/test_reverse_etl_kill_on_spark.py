"""The kill test of tests/reverse_etl/test_kill.py with the sync reading and writing Spark:
`python -m reverse_etl --target spark` is killed with SIGKILL (its JVM with it) while a batch
is in flight, then run again; nothing acknowledged is sent twice and nothing is lost.

Every Spark step runs in its own process, one at a time: the embedded metastore admits one
process, so this test never starts Spark in the pytest process (and runs before the tests
that do, keeping one JVM on the machine at a time).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cdp import PROJECT_ROOT
from tests.reverse_etl.test_kill import (
    check_kill_and_resume,
    desired_members,
    start_sync,
    sync_file,
    webhook,  # noqa: F401  (the fixture)
)
from tests.spark.conftest import missing_requirement

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(missing_requirement() is not None, reason=str(missing_requirement())),
]


def _spark_env(spark_dir: Path) -> dict[str, str]:
    return {"CDP_TARGET": "spark", "CDP_SPARK_DIR": str(spark_dir)}


def _helper(command: str, spark_dir: Path) -> str:
    finished = subprocess.run(
        [sys.executable, "-m", "tests.spark.retl_process", command],
        cwd=PROJECT_ROOT,
        env=os.environ | _spark_env(spark_dir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    return finished.stdout


def test_a_spark_sync_killed_mid_batch_resumes_without_loss_or_resending(
    tmp_path,
    webhook,  # noqa: F811
):
    spark_dir = tmp_path / "spark"
    _helper("prepare", spark_dir)
    config = sync_file(tmp_path, webhook.url)

    def read_state() -> tuple[set[str], list[tuple[str, int]]]:
        shown = json.loads(_helper("show", spark_dir).strip().splitlines()[-1])
        return set(shown["state"]), [tuple(run) for run in shown["runs"]]

    check_kill_and_resume(
        webhook,
        desired_members(),
        lambda: start_sync(config, "--target", "spark", env=_spark_env(spark_dir)),
        read_state,
        timeout=300,
    )
