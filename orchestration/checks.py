"""Checks on what the dbt build produced, beyond dbt's own tests.

- every segment: size within its `size_bounds` and not changed by more than
  CDP_SEGMENT_MAX_CHANGE (default 0.5 = 50%) since the previous evaluation of the same check;
  and, for every sync of the segment that has sent before, its reachable members (consented
  for the sync's purpose, not held out, not erased) against what the destination last
  ACKNOWLEDGED (reverse_etl.sync_state): the engine's mass-change guard would not refuse the
  next run, and reachable did not shrink by more than CDP_SEGMENT_MAX_CHANGE. A refused run
  changes nothing acknowledged, so this keeps failing until the data is fixed or the run is
  launched with the tag `cdp/allow_mass_change: true`;
- identity over-merge on core.customers: the largest profile's identifiers against
  CDP_IDENTITY_MAX_IDENTIFIERS (default 40, the dbt var's value) and its share of all source
  records against CDP_IDENTITY_MAX_RECORD_SHARE (default 0.05, judged from 1,000 records on);
- consent and erasure applied: no withdrawal, consent row or deletion request that the build
  could not apply (privacy.privacy_unapplied_rows), unless an operator acknowledged it;
- landing freshness: the newest file of every landing table is at most
  CDP_LANDING_MAX_AGE_HOURS (default 26) old;
- every sync: its latest finished run in reverse_etl.sync_runs did not fail, and at most
  CDP_SYNC_MAX_FAILURE_RATE (default 0.05) of the records it tried to send were rejected
  (judged from CDP_SYNC_MIN_RECORDS, default 100, records on).

The checks are blocking: an ERROR result stops what is downstream of the asset (the syncs),
fails the run (so the run-failure alert fires too) and posts its own alert. Freshness reports
WARN by default, so an old sample or a paused feed does not stop the syncs; set
CDP_LANDING_FRESHNESS_SEVERITY=ERROR where late data must block them. Nothing is downstream of
a sync yet: its check gates whatever is added there later, and marks the run failed.

A sync whose run raises fails its own step, so in that run its check does not execute; the
check still reports the failed run when evaluated on its own (e.g. from the UI after `cdp sync`
ran outside Dagster).

The previous segment size comes from the previous check evaluation's metadata in the Dagster
instance, so the check never writes to the warehouse (DuckDB has one writer, and that is dbt).

Every check reads through the `warehouse` resource (WarehouseResource: the DuckDB file
read-only, or Spark's tables, with the same queries) and judges by the `check_thresholds`
resource (CheckThresholds): a threshold set in Dagster's config wins over its CDP_* variable,
which wins over the default above. Checks are built from the manifest when the definitions
are loaded (segment_checks(), model_checks(), sync_checks()), never at import.
"""

# No `from __future__ import annotations`: Dagster reads the `context` and resource
# annotations at runtime.
import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import duckdb
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    ConfigurableResource,
    Definitions,
    MetadataValue,
    asset_check,
)
from dagster_dbt import get_asset_key_for_model
from pydantic import Field

from cdp.activation import open_warehouse, project_syncs
from cdp.landing import LANDING_TABLES
from cdp.pipeline import Settings, SettingsError
from orchestration.alerts import alert_check_failure
from orchestration.dbt import cdp_dbt_assets, dbt_project
from orchestration.sensors import list_landing_files
from orchestration.syncs import ALLOW_MASS_CHANGE_TAG, allows_mass_change, sync_assets
from reverse_etl.config import SyncConfig
from reverse_etl.engine import assess_mass_change
from reverse_etl.guard import DeltaCounts
from reverse_etl.redaction import redact
from reverse_etl.state import SYNC_RUNS
from reverse_etl.warehouse import DuckDBWarehouse

DEFAULT_SEGMENT_MAX_CHANGE = 0.5
DEFAULT_MAX_IDENTIFIERS = 40  # dbt var identity_max_identifiers_per_customer
DEFAULT_MAX_RECORD_SHARE = 0.05
MIN_RECORDS_FOR_SHARE = 1000  # below this, one profile holding 5% of records is normal
DEFAULT_LANDING_MAX_AGE_HOURS = 26.0
DEFAULT_SYNC_MAX_FAILURE_RATE = 0.05
DEFAULT_SYNC_MIN_RECORDS = 100  # below this, a few rejected records are not a rate
DEFAULT_STREAM_MAX_LAG_SECONDS = 60.0
DEFAULT_STREAM_MAX_HEARTBEAT_AGE_SECONDS = 60.0
DEFAULT_STREAM_MAX_REJECTS_PER_HOUR = 100
MAX_ERROR_CHARS = 500


@dataclass
class Verdict:
    """What a check found: whether it passed, one readable sentence, and the numbers."""

    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r} is not a number (default {default})") from None


class ReadableWarehouse(Protocol):
    """What the checks read through: DuckDBWarehouse or SparkWarehouse (reverse_etl)."""

    dialect: Any

    def fetchall(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]: ...

    def relation_exists(self, relation: str) -> bool: ...


def read_rows(
    warehouse: ReadableWarehouse,
    relation: str,
    columns: Sequence[str],
    rest: str = "",
    params: Sequence[Any] | None = None,
) -> list[dict[str, Any]] | None:
    """`select <columns> from <relation> <rest>` as dicts; None when the relation is missing
    (the warehouse was not built yet, or no sync has run on it)."""
    if not warehouse.relation_exists(relation):
        return None
    rows = warehouse.fetchall(f"select {', '.join(columns)} from {relation} {rest}", params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


# --- segment size -------------------------------------------------------------------------


def segment_size_verdict(
    size: int,
    bounds: Mapping[str, Any] | None,
    previous_size: int | None,
    max_change: float = DEFAULT_SEGMENT_MAX_CHANGE,
) -> Verdict:
    """Size within [min, max] of the segment's size_bounds, and change vs previous <= max_change.

    A previous size of 0 (or none) gives no relative change to judge; the lower bound covers
    segments that should never be empty.
    """
    bounds = bounds or {}
    low, high = bounds.get("min"), bounds.get("max")
    problems = []
    if low is not None and size < low:
        problems.append(f"{size} members is below the minimum of {low}")
    if high is not None and size > high:
        problems.append(f"{size} members is above the maximum of {high}")
    change = None
    if previous_size:
        change = (size - previous_size) / previous_size
        if abs(change) > max_change:
            problems.append(
                f"size changed {change:+.0%} since the last check ({previous_size} -> {size}),"
                f" more than the allowed {max_change:.0%}"
            )
    metadata: dict[str, Any] = {
        "size": size,
        "min_size": low,
        "max_size": high,
        "previous_size": previous_size,
        "change": MetadataValue.float(round(change, 4)) if change is not None else None,
        "max_change": max_change,
    }
    metadata = {key: value for key, value in metadata.items() if value is not None}
    if problems:
        return Verdict(False, "; ".join(problems), metadata)
    return Verdict(True, f"{size} members, within bounds and expected change", metadata)


def segment_size(warehouse: ReadableWarehouse, relation: str) -> dict[str, int]:
    """Members, holdout members and contactable (consented, not holdout) members of a segment."""
    [(total, holdout, contactable)] = warehouse.fetchall(
        f"""
        select
            count(*),
            count(*) filter (where is_holdout),
            count(*) filter (where has_consent and not is_holdout)
        from {relation}
        """
    )
    return {"size": total, "holdout_size": holdout, "contactable_size": contactable}


@dataclass(frozen=True)
class AcknowledgedComparison:
    """One sync of a segment: what its destination holds and what the next run would do."""

    sync_name: str
    counts: DeltaCounts
    guard_reason: str | None  # why the engine's mass-change guard would refuse the run
    min_records: int


def acknowledged_comparisons(
    warehouse: ReadableWarehouse, syncs: Sequence[SyncConfig]
) -> list[AcknowledgedComparison]:
    """The segment's syncs that have acknowledged state, compared with it (reads only)."""
    comparisons = []
    for sync in syncs:
        counts, reason = assess_mass_change(sync, warehouse)
        if counts is not None and counts.held:
            comparisons.append(
                AcknowledgedComparison(sync.name, counts, reason, sync.mass_change.min_records)
            )
    return comparisons


def acknowledged_verdict(
    verdict: Verdict,
    comparisons: Sequence[AcknowledgedComparison],
    max_change: float = DEFAULT_SEGMENT_MAX_CHANGE,
    overridden: bool = False,
) -> Verdict:
    """`verdict` (bounds, run-over-run change) plus the comparison with what was acknowledged.

    Fails when the engine would refuse a sync's next run, or when a sync's reachable members
    are fewer than (1 - max_change) of what its destination holds (from the guard's
    min_records on). `overridden` (the run's tag) turns these two into a passing note.
    """
    problems = []
    for item in comparisons:
        counts = item.counts
        verdict.metadata[f"{item.sync_name}:acknowledged"] = counts.held
        verdict.metadata[f"{item.sync_name}:reachable"] = counts.desired
        if item.guard_reason:
            problems.append(f"sync {item.sync_name}: {item.guard_reason}")
        shrink = counts.held - counts.desired
        if shrink >= item.min_records and counts.desired < (1 - max_change) * counts.held:
            problems.append(
                f"sync {item.sync_name}: {counts.desired} reachable members, down from the"
                f" {counts.held} its destination acknowledged ({-shrink / counts.held:+.0%}),"
                f" more than the allowed {max_change:.0%}"
            )
    if not problems:
        return verdict
    described = "; ".join(problems)
    if overridden:
        verdict.metadata["mass_change_overridden"] = True
        note = f"allowed by the run tag {ALLOW_MASS_CHANGE_TAG}: {described}"
        return Verdict(verdict.passed, f"{verdict.description}; {note}", verdict.metadata)
    if verdict.passed:
        return Verdict(False, described, verdict.metadata)
    return Verdict(False, f"{verdict.description}; {described}", verdict.metadata)


def previous_check_size(
    context: AssetCheckExecutionContext, check_key: AssetCheckKey
) -> int | None:
    """The `size` the last completed evaluation of this check recorded, if any."""
    records = context.instance.event_log_storage.get_asset_check_execution_history(
        check_key, limit=5
    )
    for record in records:
        event = record.event
        evaluation = event.asset_check_evaluation if event is not None else None
        if evaluation is None:
            continue
        value = evaluation.metadata.get("size")
        if value is not None:
            return int(getattr(value, "value", value))
    return None


# --- identity over-merge ------------------------------------------------------------------

OVERMERGE_QUERY = """
    with ranked as (
        select
            customer_id,
            identifier_count,
            source_record_count,
            is_oversized_profile,
            row_number() over (
                order by identifier_count desc, source_record_count desc, customer_id
            ) as profile_rank
        from core.customers
    )

    select
        count(*) as customers,
        coalesce(sum(source_record_count), 0) as source_records,
        count(*) filter (where is_oversized_profile) as oversized_profiles,
        max(customer_id) filter (where profile_rank = 1) as largest_customer_id,
        coalesce(max(identifier_count) filter (where profile_rank = 1), 0)
            as largest_identifiers,
        coalesce(max(source_record_count) filter (where profile_rank = 1), 0) as largest_records
    from ranked
"""
OVERMERGE_COLUMNS = (
    "customers",
    "source_records",
    "oversized_profiles",
    "largest_customer_id",
    "largest_identifiers",
    "largest_records",
)


def identity_stats(warehouse: ReadableWarehouse) -> dict[str, Any]:
    [row] = warehouse.fetchall(OVERMERGE_QUERY)
    return dict(zip(OVERMERGE_COLUMNS, row, strict=True))


def overmerge_verdict(
    stats: Mapping[str, Any],
    max_identifiers: int = DEFAULT_MAX_IDENTIFIERS,
    max_record_share: float = DEFAULT_MAX_RECORD_SHARE,
) -> Verdict:
    """Fails when the largest profile has more identifiers than the cap, or (from
    MIN_RECORDS_FOR_SHARE source records on) holds more than max_record_share of all records.
    """
    records = int(stats["source_records"] or 0)
    largest_records = int(stats["largest_records"] or 0)
    share = largest_records / records if records else 0.0
    problems = []
    if stats["largest_identifiers"] > max_identifiers:
        problems.append(
            f"customer {stats['largest_customer_id']} has {stats['largest_identifiers']}"
            f" identifiers, more than the cap of {max_identifiers}"
        )
    if records >= MIN_RECORDS_FOR_SHARE and share > max_record_share:
        problems.append(
            f"customer {stats['largest_customer_id']} holds {share:.1%} of all source records,"
            f" more than {max_record_share:.1%}"
        )
    metadata = {
        "customers": int(stats["customers"]),
        "source_records": records,
        "oversized_profiles": int(stats["oversized_profiles"]),
        "largest_customer_id": str(stats["largest_customer_id"]),
        "largest_identifiers": int(stats["largest_identifiers"]),
        "largest_records": largest_records,
        "largest_record_share": MetadataValue.float(round(share, 6)),
        "max_identifiers": max_identifiers,
        "max_record_share": max_record_share,
    }
    if problems:
        return Verdict(False, "; ".join(problems), metadata)
    return Verdict(True, "no profile looks over-merged", metadata)


# --- landing freshness --------------------------------------------------------------------


def newest_landing_mtimes(raw_dir: Path) -> dict[str, float | None]:
    """Per landing table, the newest file's modification time (epoch seconds), None if empty."""
    newest: dict[str, float | None] = dict.fromkeys(LANDING_TABLES)
    for file in list_landing_files(raw_dir):
        seconds = file.mtime_ns / 1e9
        current = newest[file.table]
        newest[file.table] = seconds if current is None else max(current, seconds)
    return newest


def freshness_verdict(
    newest: Mapping[str, float | None], now: float, max_age_hours: float
) -> Verdict:
    ages = {
        table: None if mtime is None else round((now - mtime) / 3600, 2)
        for table, mtime in newest.items()
    }
    stale = {table: age for table, age in ages.items() if age is None or age > max_age_hours}
    metadata: dict[str, Any] = {
        "max_age_hours": max_age_hours,
        "tables": len(ages),
        "stale_tables": len(stale),
        "age_hours_by_table": MetadataValue.json(ages),
    }
    if stale:
        worst = ", ".join(
            f"{table} ({'no files' if age is None else f'{age:.1f} h'})"
            for table, age in sorted(stale.items())[:5]
        )
        return Verdict(
            False, f"{len(stale)} landing table(s) older than {max_age_hours} h: {worst}", metadata
        )
    return Verdict(True, f"every landing table has a file newer than {max_age_hours} h", metadata)


# --- sync failure rate --------------------------------------------------------------------

SYNC_RUN_COLUMNS = (
    "run_id",
    "status",
    "started_at",
    "finished_at",
    "added",
    "changed",
    "removed",
    "failed",
    "skipped_consent",
    "skipped_holdout",
    "requests",
    "error",
)


def latest_sync_run(warehouse: ReadableWarehouse, sync_name: str) -> dict[str, Any] | None:
    """The sync's latest finished run from reverse_etl.sync_runs, None if it has none.

    Runs still marked `running` are left out: one in flight (or one whose process died) has no
    final counts yet.
    """
    rows = read_rows(
        warehouse,
        SYNC_RUNS,
        SYNC_RUN_COLUMNS,
        f"where sync_name = {warehouse.dialect.parameter(1)} and status <> 'running'"
        " order by started_at desc, finished_at desc nulls last limit 1",
        [sync_name],
    )
    return rows[0] if rows else None


def sync_failure_verdict(
    run: Mapping[str, Any] | None,
    max_failure_rate: float = DEFAULT_SYNC_MAX_FAILURE_RATE,
    min_records: int = DEFAULT_SYNC_MIN_RECORDS,
) -> Verdict:
    """Fails when the run failed, or when more than max_failure_rate of the records it tried to
    send (added + changed + removed + failed) were rejected, judged from min_records on.
    """
    if run is None:
        return Verdict(
            True,
            "no finished run of this sync is recorded yet",
            {"max_failure_rate": max_failure_rate, "min_records": min_records},
        )
    counts = {name: int(run.get(name) or 0) for name in ("added", "changed", "removed", "failed")}
    attempted = sum(counts.values())
    rate = counts["failed"] / attempted if attempted else 0.0
    run_id = str(run["run_id"])
    status = str(run["status"])
    error = redact((run.get("error") or "").strip())[:MAX_ERROR_CHARS] or None
    metadata: dict[str, Any] = {
        "status": status,
        "failed": counts["failed"],
        "attempted": attempted,
        "failure_rate": MetadataValue.float(round(rate, 6)),
        "max_failure_rate": max_failure_rate,
        "run_id": run_id,
        "added": counts["added"],
        "changed": counts["changed"],
        "removed": counts["removed"],
        "min_records": min_records,
        "requests": int(run.get("requests") or 0),
        "skipped_consent": int(run.get("skipped_consent") or 0),
        "skipped_holdout": int(run.get("skipped_holdout") or 0),
        "started_at": str(run.get("started_at")),
        "finished_at": str(run.get("finished_at")),
        "error": error,
    }
    metadata = {key: value for key, value in metadata.items() if value is not None}
    summary = f"{counts['failed']} of {attempted} records failed ({rate:.1%}) in run {run_id[:8]}"
    problems = []
    if status == "failed":
        problems.append(f"run {run_id[:8]} failed: {error or 'no error recorded'}")
    if status == "blocked":
        problems.append(f"run {run_id[:8]} was blocked: {error or 'no reason recorded'}")
    if attempted >= min_records and rate > max_failure_rate:
        problems.append(f"{summary}, more than the allowed {max_failure_rate:.1%}")
    if problems:
        return Verdict(False, "; ".join(problems), metadata)
    if attempted < min_records and counts["failed"]:
        return Verdict(
            True, f"{summary}; the rate is judged from {min_records} records on", metadata
        )
    return Verdict(True, summary, metadata)


# --- consent and erasure applied ----------------------------------------------------------

UNAPPLIED_ROWS_RELATION = "privacy.privacy_unapplied_rows"
MAX_NAMED_ROWS = 20

UNAPPLIED_ROWS_COLUMNS = (
    "landing_table",
    "record_key",
    "reason",
    "row_fingerprint",
    "is_acknowledged",
)


def unapplied_rows(warehouse: ReadableWarehouse) -> list[dict[str, Any]] | None:
    """The consent and deletion rows the build could not apply (keys, reasons, fingerprints:
    no personal data), None when the warehouse has no such table yet."""
    return read_rows(
        warehouse,
        UNAPPLIED_ROWS_RELATION,
        UNAPPLIED_ROWS_COLUMNS,
        "order by landing_table, record_key, row_fingerprint",
    )


def unapplied_rows_verdict(rows: Sequence[Mapping[str, Any]] | None) -> Verdict:
    """Fails while any withdrawal, consent row or deletion request could not be applied and no
    operator acknowledged it (CDP_ACKNOWLEDGED_UNAPPLIED_ROWS); names them by table and key."""
    if rows is None:
        return Verdict(False, f"{UNAPPLIED_ROWS_RELATION} is missing: was the build run?", {})
    open_rows = [row for row in rows if not row["is_acknowledged"]]
    named = [
        f"{row['landing_table']} {row['record_key'] or '(no key)'}: {row['reason']}"
        f" (fingerprint {row['row_fingerprint']})"
        for row in open_rows[:MAX_NAMED_ROWS]
    ]
    metadata: dict[str, Any] = {
        "unapplied_rows": len(open_rows),
        "acknowledged_rows": len(rows) - len(open_rows),
        "rows": MetadataValue.json(named),
    }
    if open_rows:
        more = f" and {len(open_rows) - len(named)} more" if len(open_rows) > len(named) else ""
        return Verdict(
            False,
            f"{len(open_rows)} consent or deletion row(s) could not be applied: "
            + "; ".join(named)
            + more
            + ". Fix the landed rows, or acknowledge a resolved row by its fingerprint in"
            " CDP_ACKNOWLEDGED_UNAPPLIED_ROWS.",
            metadata,
        )
    return Verdict(
        True,
        "every withdrawal, consent row and deletion request was applied"
        + (f" ({len(rows)} acknowledged)" if rows else ""),
        metadata,
    )


# --- resources: the warehouse and the thresholds ------------------------------------------


def _read_only_duckdb(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the DuckDB file, or a plain one when this process has it open.

    When the check runs in the process that ran dbt (in-process execution), dbt-duckdb's
    adapter (opened for the row counts) still holds the file read-write, and DuckDB refuses a
    second connection with another configuration in the same process. Read-only, checks in
    parallel processes never wait for each other.
    """
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.ConnectionException:
        return duckdb.connect(str(path))


class WarehouseResource(ConfigurableResource):
    """The warehouse the pipeline builds, opened for the checks to read.

    DuckDB (the file CDP_DUCKDB_PATH names, read-only) or Spark (CDP_TARGET=spark: the tables
    under CDP_SPARK_DIR, through the session dbt-spark uses), behind reverse_etl's warehouse
    classes, so every check reads the same SQL on both. Unset fields follow the pipeline's
    settings (cdp.pipeline.Settings); a field set in the run's config wins.
    """

    target: str | None = Field(
        default=None, description="duckdb or spark; default CDP_TARGET, else duckdb."
    )
    duckdb_path: str | None = Field(
        default=None, description="The DuckDB file; default CDP_DUCKDB_PATH."
    )

    def settings(self) -> Settings:
        settings = Settings.from_env()
        if self.target:
            settings = dataclasses.replace(settings, target=self.target)
        if self.duckdb_path:
            settings = dataclasses.replace(settings, duckdb_path=Path(self.duckdb_path).resolve())
        return settings

    @contextmanager
    def open(self) -> Iterator[ReadableWarehouse]:
        settings = self.settings()
        if settings.target == "spark":
            warehouse: Any = open_warehouse(settings)
        else:
            warehouse = DuckDBWarehouse(_read_only_duckdb(settings.duckdb_path))
        try:
            yield warehouse
        finally:
            warehouse.close()


# Threshold -> (the environment variable it falls back to, today's default).
THRESHOLD_DEFAULTS: dict[str, tuple[str, float]] = {
    "segment_max_change": ("CDP_SEGMENT_MAX_CHANGE", DEFAULT_SEGMENT_MAX_CHANGE),
    "identity_max_identifiers": ("CDP_IDENTITY_MAX_IDENTIFIERS", DEFAULT_MAX_IDENTIFIERS),
    "identity_max_record_share": ("CDP_IDENTITY_MAX_RECORD_SHARE", DEFAULT_MAX_RECORD_SHARE),
    "landing_max_age_hours": ("CDP_LANDING_MAX_AGE_HOURS", DEFAULT_LANDING_MAX_AGE_HOURS),
    "sync_max_failure_rate": ("CDP_SYNC_MAX_FAILURE_RATE", DEFAULT_SYNC_MAX_FAILURE_RATE),
    "sync_min_records": ("CDP_SYNC_MIN_RECORDS", DEFAULT_SYNC_MIN_RECORDS),
    "stream_max_lag_seconds": ("CDP_STREAM_MAX_LAG_SECONDS", DEFAULT_STREAM_MAX_LAG_SECONDS),
    "stream_max_heartbeat_age_seconds": (
        "CDP_STREAM_MAX_HEARTBEAT_AGE_SECONDS",
        DEFAULT_STREAM_MAX_HEARTBEAT_AGE_SECONDS,
    ),
    "stream_max_rejects_per_hour": (
        "CDP_STREAM_MAX_REJECTS_PER_HOUR",
        DEFAULT_STREAM_MAX_REJECTS_PER_HOUR,
    ),
}


def _threshold_field(name: str, kind: str) -> Any:
    env, default = THRESHOLD_DEFAULTS[name]
    return Field(default=None, description=f"{kind}; default {env}, else {default:g}.")


class CheckThresholds(ConfigurableResource):
    """What the checks judge by. Each threshold is, in this order: the value in Dagster's
    config (the resource's, or a run's `resources: {check_thresholds: {config: ...}}`), the
    CDP_* variable named in its description, or today's default."""

    segment_max_change: float | None = _threshold_field(
        "segment_max_change", "Largest allowed relative change of a segment's size"
    )
    identity_max_identifiers: int | None = _threshold_field(
        "identity_max_identifiers", "Most identifiers one profile may have"
    )
    identity_max_record_share: float | None = _threshold_field(
        "identity_max_record_share", "Largest share of all source records one profile may hold"
    )
    landing_max_age_hours: float | None = _threshold_field(
        "landing_max_age_hours", "Oldest a landing table's newest file may be, in hours"
    )
    landing_freshness_severity: str | None = Field(
        default=None,
        description="WARN or ERROR; default CDP_LANDING_FRESHNESS_SEVERITY, else WARN.",
    )
    sync_max_failure_rate: float | None = _threshold_field(
        "sync_max_failure_rate", "Largest share of a sync run's records that may be rejected"
    )
    sync_min_records: int | None = _threshold_field(
        "sync_min_records", "Records a sync run must have tried before its rate is judged"
    )
    stream_max_lag_seconds: float | None = _threshold_field(
        "stream_max_lag_seconds", "Longest an acknowledged event may wait for the evaluator"
    )
    stream_max_heartbeat_age_seconds: float | None = _threshold_field(
        "stream_max_heartbeat_age_seconds", "Oldest cdp stream's heartbeat may be, in seconds"
    )
    stream_max_rejects_per_hour: int | None = _threshold_field(
        "stream_max_rejects_per_hour", "Most events the collector may reject in an hour"
    )

    def value(self, name: str) -> float:
        configured = getattr(self, name)
        if configured is not None:
            return float(configured)
        env, default = THRESHOLD_DEFAULTS[name]
        return _env_float(env, default)

    def freshness_severity(self) -> AssetCheckSeverity:
        return freshness_severity(self.landing_freshness_severity)


def freshness_severity(configured: str | None = None) -> AssetCheckSeverity:
    """WARN unless configured (or CDP_LANDING_FRESHNESS_SEVERITY) says ERROR (the committed
    sample is always old)."""
    value = configured or os.environ.get("CDP_LANDING_FRESHNESS_SEVERITY", "WARN")
    return AssetCheckSeverity.ERROR if value.strip().upper() == "ERROR" else AssetCheckSeverity.WARN


def resources() -> dict[str, ConfigurableResource]:
    """The resources every check takes, keyed as the checks' parameters name them."""
    return {"warehouse": WarehouseResource(), "check_thresholds": CheckThresholds()}


# --- wiring -------------------------------------------------------------------------------

# What a check evaluates: (context, warehouse, thresholds) -> Verdict.
Evaluate = Callable[[AssetCheckExecutionContext, WarehouseResource, CheckThresholds], Verdict]


def _blocking_check(
    asset_key: AssetKey,
    name: str,
    description: str,
    evaluate: Evaluate,
    severity: Callable[[CheckThresholds], AssetCheckSeverity] = lambda _: AssetCheckSeverity.ERROR,
) -> AssetChecksDefinition:
    """A blocking check: a failure alerts and is reported with `severity` (ERROR: the run
    fails, and what is downstream of the asset does not run)."""

    @asset_check(asset=asset_key, name=name, blocking=True, description=description)
    def _check(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        check_thresholds: CheckThresholds,
    ) -> AssetCheckResult:
        verdict = evaluate(context, warehouse, check_thresholds)
        if not verdict.passed:
            alert_check_failure(
                asset_key.to_user_string(), name, verdict.description, verdict.metadata
            )
        return AssetCheckResult(
            passed=verdict.passed,
            severity=severity(check_thresholds),
            description=verdict.description,
            metadata=verdict.metadata,
        )

    return _check


def segment_models(manifest: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Segment model name -> its manifest node, for every model with a `meta.segment`."""
    return {
        node["name"]: node
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and "segment" in _node_meta(node)
    }


def _node_meta(node: Mapping[str, Any]) -> Mapping[str, Any]:
    return node.get("meta") or (node.get("config") or {}).get("meta") or {}


def _model_key(model: str) -> AssetKey:
    return get_asset_key_for_model([cdp_dbt_assets()], model)


def _segment_check(model: str, node: Mapping[str, Any]) -> AssetChecksDefinition:
    asset_key = _model_key(model)
    # schema.table without the database: the warehouse's default database is the built one.
    relation = f"{node['schema']}.{node.get('alias') or node['name']}"
    segment = _node_meta(node)["segment"]
    bounds = dict(segment.get("size_bounds") or {})
    syncs = [sync for sync in project_syncs() if sync.source == relation]

    def evaluate(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        thresholds: CheckThresholds,
    ) -> Verdict:
        with warehouse.open() as opened:
            sizes = segment_size(opened, relation)
            comparisons = acknowledged_comparisons(opened, syncs)
        previous = previous_check_size(context, AssetCheckKey(asset_key, "segment_size"))
        max_change = thresholds.value("segment_max_change")
        verdict = segment_size_verdict(sizes["size"], bounds, previous, max_change)
        verdict = acknowledged_verdict(
            verdict, comparisons, max_change, overridden=allows_mass_change(context.run.tags)
        )
        verdict.metadata.update(
            holdout_size=sizes["holdout_size"],
            contactable_size=sizes["contactable_size"],
            owner=str(segment.get("owner", "")),
        )
        return verdict

    return _blocking_check(
        asset_key,
        "segment_size",
        f"{model}: size within {bounds or 'no bounds'}, run-over-run change within"
        " CDP_SEGMENT_MAX_CHANGE, and reachable members against what each sync's destination"
        " acknowledged.",
        evaluate,
    )


def _identity_over_merge(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, thresholds: CheckThresholds
) -> Verdict:
    with warehouse.open() as opened:
        stats = identity_stats(opened)
    return overmerge_verdict(
        stats,
        int(thresholds.value("identity_max_identifiers")),
        thresholds.value("identity_max_record_share"),
    )


def _consent_and_erasure_applied(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, thresholds: CheckThresholds
) -> Verdict:
    with warehouse.open() as opened:
        return unapplied_rows_verdict(unapplied_rows(opened))


def _landing_freshness(
    context: AssetCheckExecutionContext, warehouse: WarehouseResource, thresholds: CheckThresholds
) -> Verdict:
    return freshness_verdict(
        newest_landing_mtimes(Settings.from_env().raw_dir),
        now=time.time(),
        max_age_hours=thresholds.value("landing_max_age_hours"),
    )


def _sync_check(asset_key: AssetKey) -> AssetChecksDefinition:
    sync_name = asset_key.path[-1]

    def evaluate(
        context: AssetCheckExecutionContext,
        warehouse: WarehouseResource,
        thresholds: CheckThresholds,
    ) -> Verdict:
        with warehouse.open() as opened:
            run = latest_sync_run(opened, sync_name)
        return sync_failure_verdict(
            run,
            thresholds.value("sync_max_failure_rate"),
            int(thresholds.value("sync_min_records")),
        )

    return _blocking_check(
        asset_key,
        "sync_failure_rate",
        f"{sync_name}: the latest run did not fail, and at most CDP_SYNC_MAX_FAILURE_RATE of"
        " its records were rejected (from CDP_SYNC_MIN_RECORDS records on).",
        evaluate,
    )


def _load_manifest() -> Mapping[str, Any]:
    return json.loads(dbt_project().manifest_path.read_text(encoding="utf-8"))


@functools.cache
def segment_checks() -> tuple[AssetChecksDefinition, ...]:
    return tuple(
        _segment_check(model, node)
        for model, node in sorted(segment_models(_load_manifest()).items())
    )


@functools.cache
def model_checks() -> dict[str, AssetChecksDefinition]:
    """The checks on single dbt models, by check name."""
    customers, landing_audit = _model_key("customers"), _model_key("landing_audit")
    return {
        "identity_over_merge": _blocking_check(
            customers,
            "identity_over_merge",
            "The largest profile has at most CDP_IDENTITY_MAX_IDENTIFIERS identifiers and at"
            " most CDP_IDENTITY_MAX_RECORD_SHARE of all source records.",
            _identity_over_merge,
        ),
        "consent_and_erasure_applied": _blocking_check(
            customers,
            "consent_and_erasure_applied",
            "Every consent withdrawal and deletion request landed was applied (or an operator"
            " acknowledged it): an unapplied one stops the syncs and is named by its key.",
            _consent_and_erasure_applied,
        ),
        "landing_freshness": _blocking_check(
            landing_audit,
            "landing_freshness",
            "Every landing table has a file newer than CDP_LANDING_MAX_AGE_HOURS (26 h); WARN"
            " unless CDP_LANDING_FRESHNESS_SEVERITY=ERROR.",
            _landing_freshness,
            severity=CheckThresholds.freshness_severity,
        ),
    }


@functools.cache
def sync_checks() -> tuple[AssetChecksDefinition, ...]:
    return tuple(_sync_check(asset.key) for asset in sync_assets())


def all_checks() -> list[AssetChecksDefinition]:
    return [*segment_checks(), *model_checks().values(), *sync_checks()]


def defs() -> Definitions:
    """The checks area: every custom check and the resources they read through."""
    return Definitions(asset_checks=all_checks(), resources=resources())
