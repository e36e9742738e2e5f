"""Schedules skip while a run of their job is in flight; jobs come from asset selections."""

from __future__ import annotations

from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    RunRequest,
    SkipReason,
    build_schedule_context,
)

from orchestration.schedules import (
    HOURLY_JOB_NAME,
    NIGHTLY_JOB_NAME,
    hourly_schedule,
    landing_dbt_select,
    nightly_schedule,
    schedule_timezone,
    skip_reason_for_in_flight_runs,
)


def _run(job_name: str, status: DagsterRunStatus, run_id: str = "a" * 36) -> DagsterRun:
    return DagsterRun(job_name=job_name, run_id=run_id, status=status)


def test_no_runs_means_no_skip() -> None:
    assert skip_reason_for_in_flight_runs(HOURLY_JOB_NAME, []) is None


def test_finished_runs_and_other_jobs_do_not_block_a_tick() -> None:
    runs = [
        _run(HOURLY_JOB_NAME, DagsterRunStatus.SUCCESS),
        _run(HOURLY_JOB_NAME, DagsterRunStatus.FAILURE),
        _run(NIGHTLY_JOB_NAME, DagsterRunStatus.STARTED),
    ]
    assert skip_reason_for_in_flight_runs(HOURLY_JOB_NAME, runs) is None


def test_a_queued_or_started_run_of_the_same_job_skips_the_tick() -> None:
    for status in (DagsterRunStatus.STARTING, DagsterRunStatus.STARTED):
        skip = skip_reason_for_in_flight_runs(HOURLY_JOB_NAME, [_run(HOURLY_JOB_NAME, status)])
        assert isinstance(skip, SkipReason)
        assert "aaaaaaaa" in (skip.skip_message or "")
        assert status.value in (skip.skip_message or "")


def test_schedule_timezone_defaults_to_utc(monkeypatch) -> None:
    monkeypatch.delenv("CDP_SCHEDULE_TIMEZONE", raising=False)
    assert schedule_timezone() == "UTC"
    monkeypatch.setenv("CDP_SCHEDULE_TIMEZONE", "Europe/Berlin")
    assert schedule_timezone() == "Europe/Berlin"


def test_hourly_selection_starts_at_every_landing_table() -> None:
    select = landing_dbt_select()
    assert select.startswith("tag:hourly resource_type:seed ")
    assert "source:crm.contacts+" in select
    assert "source:privacy.deletion_requests+" in select


def test_schedule_requests_a_run_then_skips_while_that_run_is_in_flight(
    dagster_instance: DagsterInstance,
) -> None:
    # A persistent instance (SQLite, then PostgreSQL): schedule contexts reach it through a
    # reference, and the in-flight runs are read from its run storage.
    instance = dagster_instance
    context = build_schedule_context(instance=instance)
    assert isinstance(hourly_schedule(context), RunRequest)

    instance.add_run(_run(HOURLY_JOB_NAME, DagsterRunStatus.STARTED, run_id="b" * 36))
    skip = hourly_schedule(build_schedule_context(instance=instance))
    assert isinstance(skip, SkipReason)
    assert "bbbbbbbb" in (skip.skip_message or "")
    # The nightly schedule is not held up by an hourly run.
    assert isinstance(nightly_schedule(build_schedule_context(instance=instance)), RunRequest)
