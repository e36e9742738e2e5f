"""Dagster on PostgreSQL: the dagster.yaml the README documents, run against a real server.

The server is the session's throwaway cluster (tests/postgres_cluster.py, the `postgres`
fixture); every instance gets a database of its own.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterEventType, Definitions, asset, define_asset_job
from dagster_postgres import (
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)

from cdp import PROJECT_ROOT
from tests.orchestration.conftest import DAGSTER_POSTGRES_YAML, dagster_instance_on


@asset
def landing_probe() -> int:
    return 1


PROBE_JOB = Definitions(
    assets=[landing_probe], jobs=[define_asset_job("probe_job", selection=[landing_probe])]
).resolve_job_def("probe_job")


def _yaml_blocks(markdown: str) -> list:
    blocks = []
    for block in re.findall(r"```yaml\n(.*?)```", markdown, re.S):
        try:
            blocks.append(yaml.safe_load(textwrap.dedent(block)))
        except yaml.YAMLError:
            continue
    return blocks


def test_the_readme_shows_the_dagster_yaml_the_tests_load() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert yaml.safe_load(DAGSTER_POSTGRES_YAML.read_text()) in _yaml_blocks(readme)


def test_a_real_run_keeps_its_run_and_events_in_postgres(
    postgres, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with dagster_instance_on("postgres", tmp_path / "dagster_home", request) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        database = os.environ["DAGSTER_PG_DB"]

        result = PROBE_JOB.execute_in_process(instance=instance)
        assert result.success
        logged = instance.all_logs(result.run_id)
        materialized = instance.get_latest_materialization_event(AssetKey("landing_probe"))
        assert materialized is not None and materialized.run_id == result.run_id

    # Read back with a client of its own: the run and every event are rows in PostgreSQL.
    connection = postgres.connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("select status from runs where run_id = %s", (result.run_id,))
            assert cursor.fetchall() == [("SUCCESS",)]
            cursor.execute(
                "select dagster_event_type from event_logs where run_id = %s order by id",
                (result.run_id,),
            )
            stored = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "select count(*) from event_logs where asset_key = %s and dagster_event_type = %s",
                (
                    AssetKey("landing_probe").to_string(),
                    DagsterEventType.ASSET_MATERIALIZATION.value,
                ),
            )
            assert cursor.fetchone() == (1,)
    finally:
        connection.close()
    assert len(stored) == len(logged)
    assert DagsterEventType.RUN_START.value in stored
    assert DagsterEventType.ASSET_MATERIALIZATION.value in stored
    assert stored[-1] == DagsterEventType.RUN_SUCCESS.value
