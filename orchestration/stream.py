"""The real-time stream in Dagster: its health as asset checks, kept current by a sensor.

`cdp stream` runs outside Dagster (a long-lived process); what Dagster sees of it is its files
(cdp/stream/health.py): the heartbeat, the event log and the reject log. The asset
`stream/event_log` (the acknowledged events, not materialized by Dagster) carries two checks:

    stream_health   ERROR: never started (while real-time segments exist), down (stale or
                    stopped heartbeat), lagging (the oldest unevaluated event is older than
                    CDP_STREAM_MAX_LAG_SECONDS), stalled evaluator, or waiting for a build
    stream_rejects  WARN: more events rejected in the last hour than CDP_STREAM_MAX_REJECTS_PER_HOUR

Both can be run from the UI; the sensor `stream_health_sensor` evaluates them every 30
seconds and reports the result as check evaluations whenever the kind of problem changes
(and every `REPORT_EVERY_SECONDS` otherwise), alerting (orchestration/alerts.py) when a check
starts to fail. Lag, ingest rate, rejects and the time since the last evaluation are the metadata.
"""

import json
import time
from collections.abc import Callable

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetSpec,
    DefaultSensorStatus,
    Definitions,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset_check,
    sensor,
)

from cdp.activation import REALTIME_SCHEDULE, project_syncs
from cdp.pipeline import Settings
from cdp.stream.health import (
    HealthBounds,
    Problem,
    StreamHealth,
    health_problems,
    read_health,
    reject_problems,
)
from cdp.stream.paths import stream_dir_for
from orchestration.alerts import alert_check_failure
from orchestration.checks import CheckThresholds

EVENT_LOG = AssetKey(["stream", "event_log"])
HEALTH_CHECK = "stream_health"
REJECTS_CHECK = "stream_rejects"
SENSOR_INTERVAL_SECONDS = 30
REPORT_EVERY_SECONDS = 600

event_log = AssetSpec(
    EVENT_LOG,
    group_name="stream",
    description="Events acknowledged by `cdp stream` (the event log under the stream"
    " directory); written by the collector, never materialized by Dagster.",
)

# name -> (severity, what judges it, description)
CHECKS: dict[
    str, tuple[AssetCheckSeverity, Callable[[StreamHealth, HealthBounds], list[Problem]], str]
] = {
    HEALTH_CHECK: (
        AssetCheckSeverity.ERROR,
        health_problems,
        "cdp stream runs, evaluates every acknowledged event within the lag bound and has a"
        " build to evaluate against.",
    ),
    REJECTS_CHECK: (
        AssetCheckSeverity.WARN,
        reject_problems,
        "No more events rejected in the last hour than the bound.",
    ),
}


def has_realtime_syncs() -> bool:
    return any(sync.schedule == REALTIME_SCHEDULE for sync in project_syncs())


def bounds(thresholds: CheckThresholds) -> HealthBounds:
    return HealthBounds(
        max_lag_seconds=thresholds.value("stream_max_lag_seconds"),
        max_heartbeat_age_seconds=thresholds.value("stream_max_heartbeat_age_seconds"),
        max_rejects_per_hour=int(thresholds.value("stream_max_rejects_per_hour")),
    )


def current_health() -> StreamHealth:
    return read_health(stream_dir_for(Settings.from_env().duckdb_path))


def _metadata(health: StreamHealth) -> dict:
    summary = health.summary()
    metadata = {
        key: value
        for key, value in summary.items()
        if isinstance(value, int | float | str) and not isinstance(value, bool)
    }
    metadata["started"] = health.started
    metadata["worker_errors"] = MetadataValue.json(summary["worker_errors"])
    return metadata


def evaluation(
    name: str, health: StreamHealth, limits: HealthBounds
) -> tuple[list[str], str, dict]:
    """(the kinds of problem found, description, metadata) of one check over `health`; it
    passes when no problem was found."""
    judge = CHECKS[name][1]
    problems: list[Problem] = judge(health, limits)
    if name == HEALTH_CHECK and not has_realtime_syncs():
        problems = [problem for problem in problems if problem.kind != "never_started"]
    if problems:
        description = "; ".join(problem.sentence for problem in problems)
    elif name == HEALTH_CHECK and not health.started:
        description = "no real-time syncs are configured and cdp stream has not run"
    elif name == HEALTH_CHECK:
        since = health.seconds_since_evaluation or 0
        description = (
            f"healthy: {health.lag_events or 0} events waiting, the oldest for"
            f" {health.lag_seconds:.0f} s; last step {since:.0f} s ago"
        )
    else:
        description = f"{health.rejects_last_hour} events rejected in the last hour"
    return [problem.kind for problem in problems], description, _metadata(health)


def _check(name: str):
    severity = CHECKS[name][0]

    @asset_check(
        asset=EVENT_LOG,
        name=name,
        description=CHECKS[name][2],
    )
    def _run(
        context: AssetCheckExecutionContext, check_thresholds: CheckThresholds
    ) -> AssetCheckResult:
        problems, description, metadata = evaluation(
            name, current_health(), bounds(check_thresholds)
        )
        passed = not problems
        if not passed:
            alert_check_failure(EVENT_LOG.to_user_string(), name, description, metadata)
        return AssetCheckResult(
            passed=passed, severity=severity, description=description, metadata=metadata
        )

    return _run


checks = [_check(name) for name in CHECKS]


@sensor(
    name="stream_health_sensor",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Reports cdp stream's health (lag, ingest, rejects, last evaluation) as the"
    " checks of stream/event_log, and alerts when one starts to fail.",
)
def stream_health_sensor(context: SensorEvaluationContext, check_thresholds: CheckThresholds):
    previous = json.loads(context.cursor) if context.cursor else {}
    health = current_health()
    limits = bounds(check_thresholds)
    now = time.time()
    events, state = [], {}
    for name, (severity, _judge, _description) in CHECKS.items():
        problems, description, metadata = evaluation(name, health, limits)
        passed = not problems
        seen = previous.get(name) or {}
        state[name] = {"problems": problems, "at": seen.get("at", 0)}
        # a new kind of problem (or its end) is reported at once; the same figures, changing
        # every second, only every REPORT_EVERY_SECONDS
        changed = seen.get("problems") != problems
        if not changed and now - seen.get("at", 0) < REPORT_EVERY_SECONDS:
            continue
        if not passed and not seen.get("problems"):
            alert_check_failure(EVENT_LOG.to_user_string(), name, description, metadata)
        state[name]["at"] = now
        events.append(
            AssetCheckEvaluation(
                asset_key=EVENT_LOG,
                check_name=name,
                passed=passed,
                severity=severity,
                description=description,
                metadata=metadata,
            )
        )
    cursor = json.dumps(state, sort_keys=True)
    if not events:
        return SensorResult(skip_reason=SkipReason("stream health unchanged"), cursor=cursor)
    return SensorResult(asset_events=events, cursor=cursor)


def check_keys() -> list[AssetCheckKey]:
    return [AssetCheckKey(EVENT_LOG, name) for name in CHECKS]


def defs() -> Definitions:
    """The stream area: the event log asset, its health checks and the health sensor."""
    return Definitions(assets=[event_log], asset_checks=checks, sensors=[stream_health_sensor])
