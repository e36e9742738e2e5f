"""The landing sensor starts one run per new drop of files and remembers what it saw."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dagster import DagsterInstance, SensorResult, build_sensor_context
from dagster._core.definitions.sensor_definition import SensorType
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from cdp.landing import write_csv_landing
from orchestration.sensors import (
    LandingFile,
    landing_files_sensor,
    list_landing_files,
    new_files,
    next_cursor,
    parse_cursor,
    run_key_for,
)

# The sensor as the daemon knows it: its state (the cursor) is kept under this origin.
SENSOR_ORIGIN = RemoteInstigatorOrigin(
    RemoteRepositoryOrigin(
        InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="orchestration.definitions")),
        "__repository__",
    ),
    "landing_files_sensor",
)


def _daemon_tick(instance: DagsterInstance) -> SensorResult:
    """One tick the way the daemon runs it: the cursor is read from the instance's schedule
    storage before the evaluation and written back after it."""
    state = InstigatorState(SENSOR_ORIGIN, InstigatorType.SENSOR, InstigatorStatus.RUNNING)
    stored = instance.get_instigator_state(state.instigator_origin_id, state.selector_id)
    cursor = stored.instigator_data.cursor if stored else None
    result = landing_files_sensor(build_sensor_context(instance=instance, cursor=cursor))
    state = state.with_data(
        SensorInstigatorData(cursor=result.cursor, sensor_type=SensorType.STANDARD)
    )
    if stored is None:
        instance.add_instigator_state(state)
    else:
        instance.update_instigator_state(state)
    return result


def _file(name: str, size: int = 10, mtime_ns: int = 1, table: str = "crm/contacts"):
    return LandingFile(table=table, name=name, size=size, mtime_ns=mtime_ns)


def test_every_file_is_new_to_an_empty_cursor() -> None:
    files = [_file("a.csv"), _file("b.csv", table="shop/orders")]
    assert new_files(files, parse_cursor(None)) == files


def test_seen_files_are_not_new_but_changed_or_added_ones_are() -> None:
    seen = parse_cursor(next_cursor([_file("a.csv"), _file("b.csv")]))
    current = [_file("a.csv"), _file("b.csv", size=11), _file("c.csv")]
    assert [file.name for file in new_files(current, seen)] == ["b.csv", "c.csv"]


def test_cursor_is_compact_json_of_the_current_listing() -> None:
    cursor = next_cursor([_file("a.csv", size=3, mtime_ns=7)])
    assert cursor == '{"crm/contacts":{"a.csv":"3:7"}}'


def test_run_key_depends_on_the_files_not_their_order() -> None:
    first, second = _file("a.csv"), _file("b.csv")
    assert run_key_for([first, second]) == run_key_for([second, first])
    assert run_key_for([first]) != run_key_for([_file("a.csv", mtime_ns=2)])


def test_listing_finds_csv_and_parquet_under_landing_tables_only(tmp_path: Path) -> None:
    (tmp_path / "crm/contacts").mkdir(parents=True)
    (tmp_path / "crm/contacts/part-1.csv").write_text("x")
    (tmp_path / "crm/contacts/part-2.parquet").write_text("x")
    (tmp_path / "crm/contacts/notes.txt").write_text("x")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/part-1.csv").write_text("x")
    names = [(file.table, file.name) for file in list_landing_files(tmp_path)]
    assert names == [("crm/contacts", "part-1.csv"), ("crm/contacts", "part-2.parquet")]


def test_sensor_runs_once_per_new_drop(
    tmp_path: Path, monkeypatch, dagster_instance: DagsterInstance
) -> None:
    raw_dir = tmp_path / "landing"
    monkeypatch.setenv("CDP_RAW_DIR", str(raw_dir))
    write_csv_landing(raw_dir, {})
    # A persistent instance (SQLite, then PostgreSQL), as under the daemon.
    instance = dagster_instance
    first = landing_files_sensor(build_sensor_context(instance=instance))
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags["cdp/new_files"] == "10"
    assert len(json.loads(first.cursor)) == 10

    unchanged = landing_files_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert not unchanged.run_requests
    assert unchanged.skip_reason is not None
    assert unchanged.cursor == first.cursor

    drop = raw_dir / "shop/orders/part-00001.csv"
    drop.write_text("order_id\n1\n")
    os.utime(drop, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    third = landing_files_sensor(build_sensor_context(instance=instance, cursor=first.cursor))
    assert len(third.run_requests) == 1
    assert third.run_requests[0].tags["cdp/tables"] == "shop/orders"
    assert third.run_requests[0].run_key != first.run_requests[0].run_key
    assert "part-00001.csv" in json.loads(third.cursor)["shop/orders"]

    again = landing_files_sensor(build_sensor_context(instance=instance, cursor=third.cursor))
    assert not again.run_requests


def test_the_cursor_kept_in_the_instance_carries_the_sensor_across_ticks(
    tmp_path: Path, monkeypatch, dagster_instance: DagsterInstance
) -> None:
    raw_dir = tmp_path / "landing"
    monkeypatch.setenv("CDP_RAW_DIR", str(raw_dir))
    write_csv_landing(raw_dir, {})
    first = _daemon_tick(dagster_instance)
    assert len(first.run_requests) == 1
    assert not _daemon_tick(dagster_instance).run_requests

    (raw_dir / "email/events/part-00002.csv").write_text("email_event_id\n1\n")
    new_drop = _daemon_tick(dagster_instance)
    assert [request.tags["cdp/tables"] for request in new_drop.run_requests] == ["email/events"]
    assert not _daemon_tick(dagster_instance).run_requests
