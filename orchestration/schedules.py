"""Hourly and nightly jobs, built from asset selections, and their schedules.

The jobs are built when the definitions are loaded (`jobs()`, from the dbt assets' manifest);
the schedules name their job, so they are plain module-level definitions.

The hourly job refreshes what landing data feeds (staging through segments) and runs the syncs
tagged `schedule: hourly` in dbt_project/syncs.yml; the nightly job rebuilds everything,
including the predictive models, the membership snapshot and every sync. A schedule skips its
tick while a run of its job is still queued or running, so slow runs never pile up.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable

from dagster import (
    AssetSelection,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    schedule,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # what define_asset_job returns; dagster exports no name
)
from dagster_dbt import build_dbt_asset_selection

from cdp.landing import LANDING_TABLES
from orchestration.dbt import FULL_REFRESH_TAG, cdp_dbt_assets
from orchestration.syncs import sync_selection

# Statuses of a run that has not finished yet.
IN_FLIGHT_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]

BUILD_EVERYTHING_JOB_NAME = "build_everything"
HOURLY_JOB_NAME = "hourly_refresh"
NIGHTLY_JOB_NAME = "nightly_build"


def landing_dbt_select() -> str:
    """dbt selection: models tagged hourly, the (small) seeds, and all downstream of landing."""
    sources = " ".join(f"source:{table.replace('/', '.')}+" for table in LANDING_TABLES)
    return f"tag:hourly resource_type:seed {sources}"


# Nightly-only work: predictive models, the snapshot (which records one state per run), and
# the dbt tests tagged nightly (whole-warehouse invariants that the incremental models keep by
# construction, too slow to repeat every hour at scale).
HOURLY_DBT_EXCLUDE = "tag:nightly resource_type:snapshot"


def nightly_dbt_checks() -> AssetSelection:
    """The dbt tests tagged nightly, as asset checks."""
    return build_dbt_asset_selection(
        [cdp_dbt_assets()], dbt_select="tag:nightly,resource_type:test"
    )


def hourly_dbt_selection() -> AssetSelection:
    """The dbt part of the hourly job, with every check on those assets but the nightly tests.

    A dbt selection brings only dbt's own tests as checks; `.downstream(depth=0)` keeps the
    same assets and adds every check that targets them (segment size, over-merge,
    freshness), from which the nightly dbt tests are taken out again.
    """
    return (
        build_dbt_asset_selection(
            [cdp_dbt_assets()], dbt_select=landing_dbt_select(), dbt_exclude=HOURLY_DBT_EXCLUDE
        ).downstream(depth=0)
        - nightly_dbt_checks()
    )


def hourly_selection() -> AssetSelection:
    """Landing to segments, then only the syncs tagged hourly (the others wait for nightly)."""
    return hourly_dbt_selection() | sync_selection("hourly")


# Everything: every dbt model, seed and snapshot, and every sync whatever its schedule.
nightly_selection: AssetSelection = AssetSelection.all()


@functools.cache
def jobs() -> tuple[UnresolvedAssetJobDefinition, ...]:
    """build_everything, hourly_refresh and nightly_build."""
    return (
        define_asset_job(BUILD_EVERYTHING_JOB_NAME, selection="*"),
        define_asset_job(
            HOURLY_JOB_NAME,
            selection=hourly_selection(),
            description="Landing data to segments (staging, identity, customers, traits,"
            " segments), then the syncs tagged hourly.",
        ),
        define_asset_job(
            NIGHTLY_JOB_NAME,
            selection=nightly_selection,
            description="Everything rebuilt from scratch (incremental models with"
            " --full-refresh), including predictive models, the segment membership snapshot"
            " and every sync.",
            tags={FULL_REFRESH_TAG: "true"},
        ),
    )


def nightly_job() -> UnresolvedAssetJobDefinition:
    return next(job for job in jobs() if job.name == NIGHTLY_JOB_NAME)


def schedule_timezone() -> str:
    """IANA time zone the cron expressions are read in (CDP_SCHEDULE_TIMEZONE, default UTC)."""
    return os.environ.get("CDP_SCHEDULE_TIMEZONE", "").strip() or "UTC"


def skip_reason_for_in_flight_runs(job_name: str, runs: Iterable[DagsterRun]) -> SkipReason | None:
    """A SkipReason naming the unfinished runs of `job_name`, or None when there are none."""
    in_flight = [
        run for run in runs if run.job_name == job_name and run.status in IN_FLIGHT_STATUSES
    ]
    if not in_flight:
        return None
    described = ", ".join(f"{run.run_id[:8]} ({run.status.value})" for run in in_flight[:5])
    return SkipReason(f"{job_name} is still in flight: {described}; skipping this tick.")


def in_flight_runs(context: ScheduleEvaluationContext, job_name: str) -> list[DagsterRun]:
    return list(
        context.instance.get_runs(
            filters=RunsFilter(job_name=job_name, statuses=IN_FLIGHT_STATUSES), limit=5
        )
    )


def guarded_schedule(name: str, job_name: str, cron: str, description: str) -> ScheduleDefinition:
    """A schedule of `job_name` that skips its tick while a run of that job is in flight."""

    @schedule(
        name=name,
        job_name=job_name,
        cron_schedule=cron,
        execution_timezone=schedule_timezone(),
        description=description,
    )
    def _schedule(context: ScheduleEvaluationContext):
        skip = skip_reason_for_in_flight_runs(job_name, in_flight_runs(context, job_name))
        if skip is not None:
            return skip
        return RunRequest(tags={"cdp/trigger": "schedule"})

    return _schedule


hourly_schedule = guarded_schedule(
    "hourly_refresh_schedule",
    HOURLY_JOB_NAME,
    "15 * * * *",
    "Every hour at :15, unless the previous hourly run is still going.",
)
nightly_schedule = guarded_schedule(
    "nightly_build_schedule",
    NIGHTLY_JOB_NAME,
    "0 3 * * *",
    "Every night at 03:00, unless the previous nightly run is still going.",
)
schedules = [hourly_schedule, nightly_schedule]


def defs() -> Definitions:
    """The jobs area: the three jobs and the two schedules."""
    return Definitions(jobs=list(jobs()), schedules=schedules)
