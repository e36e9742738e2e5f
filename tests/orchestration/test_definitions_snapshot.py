"""The Dagster definitions against a committed snapshot: any change to them must be reviewed.

The snapshot (definitions_snapshot.json, beside this file) lists the asset keys with their
groups and upstream keys, every check with its blocking flag, each job's tags, assets and
checks, the schedules, the sensors and the resources with their config fields. A change to a
dbt model, a sync, a check, a job selection or a schedule changes it; then this test fails
with the difference. After reviewing that the change is intended, rewrite the snapshot and
commit it with the change (the test then reports itself skipped, naming the file):

    CDP_UPDATE_DEFINITIONS_SNAPSHOT=1 \
        .venv/bin/pytest tests/orchestration/test_definitions_snapshot.py
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from dagster import Definitions

SNAPSHOT = Path(__file__).with_name("definitions_snapshot.json")
UPDATE_ENV = "CDP_UPDATE_DEFINITIONS_SNAPSHOT"


def definitions_snapshot(defs: Definitions) -> dict[str, Any]:
    """What the definitions hold, as plain sorted data."""
    graph = defs.resolve_asset_graph()
    assets = {}
    for spec in defs.resolve_all_asset_specs():
        assets[spec.key.to_user_string()] = {
            "group": spec.group_name,
            "deps": sorted(dep.asset_key.to_user_string() for dep in spec.deps),
        }
    checks = {}
    for key in graph.asset_check_keys:
        spec = graph.get_check_spec(key)
        checks[f"{key.asset_key.to_user_string()}:{key.name}"] = {"blocking": spec.blocking}
    jobs = {}
    for job in defs.resolve_all_job_defs():
        if job.name == "__ASSET_JOB":
            continue
        layer = job.asset_layer
        jobs[job.name] = {
            "tags": dict(sorted(job.tags.items())),
            "assets": sorted(key.to_user_string() for key in layer.selected_asset_keys),
            "checks": sorted(
                f"{key.asset_key.to_user_string()}:{key.name}"
                for key in layer.asset_graph.asset_check_keys
            ),
        }
    schedules = {
        schedule.name: {
            "job": schedule.job_name,
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
            "default_status": schedule.default_status.value,
        }
        for schedule in defs.schedules or []
    }
    sensors = {
        sensor.name: {
            "type": type(sensor).__name__,
            "jobs": sorted(target.job_name for target in sensor.targets),
            "minimum_interval_seconds": sensor.minimum_interval_seconds,
            "default_status": sensor.default_status.value,
        }
        for sensor in defs.sensors or []
    }
    resources = {
        key: {
            "class": type(resource).__name__,
            "config": sorted(getattr(type(resource), "model_fields", {})),
        }
        for key, resource in (defs.resources or {}).items()
    }
    return {
        "assets": dict(sorted(assets.items())),
        "checks": dict(sorted(checks.items())),
        "jobs": dict(sorted(jobs.items())),
        "schedules": dict(sorted(schedules.items())),
        "sensors": dict(sorted(sensors.items())),
        "resources": dict(sorted(resources.items())),
    }


def _text(snapshot: dict[str, Any]) -> str:
    return json.dumps(snapshot, indent=1, sort_keys=True) + "\n"


def test_the_definitions_match_the_committed_snapshot(defs: Definitions) -> None:
    current = _text(definitions_snapshot(defs))
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.write_text(current, encoding="utf-8")
        pytest.skip(f"wrote {SNAPSHOT.name}: review its diff and commit it")
    committed = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if current != committed:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "committed",
                "current",
                n=1,
            )
        )
        pytest.fail(
            f"the Dagster definitions differ from {SNAPSHOT.name}; if intended, run"
            f" `{UPDATE_ENV}=1 .venv/bin/pytest tests/orchestration/{Path(__file__).name}`"
            f" and commit the result:\n{diff[:6000]}",
            pytrace=False,
        )


def test_the_snapshot_covers_every_area(defs: Definitions) -> None:
    snapshot = definitions_snapshot(defs)
    assert "core/customers" in snapshot["assets"]
    assert "activation/champions_to_file" in snapshot["assets"]
    assert snapshot["checks"]["core/customers:identity_over_merge"] == {"blocking": True}
    assert set(snapshot["jobs"]) == {"build_everything", "hourly_refresh", "nightly_build"}
    assert snapshot["schedules"]["hourly_refresh_schedule"]["job"] == "hourly_refresh"
    assert snapshot["sensors"]["landing_files_sensor"]["jobs"] == ["hourly_refresh"]
    assert set(snapshot["resources"]) == {"dbt", "warehouse", "check_thresholds"}
    assert "segment_max_change" in snapshot["resources"]["check_thresholds"]["config"]
