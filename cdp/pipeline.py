"""Run the dbt project against the configured warehouse and summarize the result.

Everything that starts dbt goes through `dbt_environment()`, so the CLI, the tests, the
benchmarks and Dagster all agree on where the landing files and the warehouse are.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cdp import DBT_PROJECT_DIR, DEFAULT_DUCKDB_PATH, DEFAULT_RAW_DIR, DEFAULT_SPARK_DIR
from cdp.landing import LANDING_TABLES


class SettingsError(ValueError):
    """A CDP_* variable with a value the pipeline cannot use; one line naming it."""


AS_OF_FORMAT = "YYYY-MM-DD[ HH:MM[:SS]] (UTC)"
_AS_OF = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")
LANDING_FORMATS = ("csv", "parquet")


def _check_as_of(env: Mapping[str, str]) -> None:
    value = env.get("CDP_AS_OF", "").strip()
    if not value:
        return
    valid = bool(_AS_OF.match(value))
    if valid:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            valid = False
    if not valid:
        raise SettingsError(
            f"CDP_AS_OF={value!r} is not a time: expected {AS_OF_FORMAT}, e.g. 2025-07-01 or"
            " 2025-07-01 06:00:00; unset it to compute as of the run's start"
        )


def _check_settings(env: Mapping[str, str]) -> None:
    """Refuse values that would fail every model (or every sync) with an error not naming them."""
    _check_as_of(env)
    landing_format = env.get("CDP_LANDING_FORMAT", "csv")
    if landing_format not in LANDING_FORMATS:
        raise SettingsError(
            f"CDP_LANDING_FORMAT={landing_format!r} is not one of {', '.join(LANDING_FORMATS)}"
        )
    _check_encodings(env)
    threads = env.get("CDP_THREADS", "2").strip()
    if not threads.isdigit() or int(threads) < 1:
        raise SettingsError(f"CDP_THREADS={threads!r} is not a whole number of at least 1")
    for name in ("CDP_DUCKDB_MEMORY_LIMIT", "CDP_SYNC_MEMORY_LIMIT"):
        limit = env.get(name, "").strip()
        if limit and not _MEMORY_LIMIT.match(limit):
            raise SettingsError(
                f"{name}={limit!r} is not a memory size: expected a number and a unit,"
                " e.g. 512MB, 6GB or 50%"
            )


def _check_encodings(env: Mapping[str, str]) -> None:
    """CDP_LANDING_ENCODING and its per-table variants: an encoding the intake reads, a table
    of the landing contract (a misspelt table would be ignored and its files misread)."""
    from cdp.intake import ENCODING_VARIABLE, SUPPORTED_ENCODINGS, encoding_variable

    per_table = {encoding_variable(table) for table in LANDING_TABLES}
    for name, value in env.items():
        if not name.startswith(ENCODING_VARIABLE) or not value.strip():
            continue
        if name != ENCODING_VARIABLE and name not in per_table:
            raise SettingsError(
                f"{name} names no landing table: expected {ENCODING_VARIABLE} or one of "
                + ", ".join(sorted(per_table))
            )
        if value.strip().lower() not in SUPPORTED_ENCODINGS:
            raise SettingsError(
                f"{name}={value!r} is not an encoding the intake reads: use utf-8, latin-1"
                " or utf-16"
            )


# What DuckDB's memory_limit accepts: a size with a unit, a share of the RAM, or -1 (none).
_MEMORY_LIMIT = re.compile(r"^(-1|\d+(\.\d+)?\s*([KMGT]i?B|%))$", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    """Where the pipeline reads and writes; every field has an environment variable."""

    raw_dir: Path = DEFAULT_RAW_DIR
    duckdb_path: Path = DEFAULT_DUCKDB_PATH
    landing_format: str = "csv"
    target: str = "duckdb"
    dbt_target_path: Path | None = None  # dbt's artifacts (default: dbt_project/target)
    spark_dir: Path = DEFAULT_SPARK_DIR  # the spark target's tables and metastore
    landing_intake_dir: Path | None = None  # default: beside the warehouse (intake_dir)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, check: bool = True) -> Settings:
        """The settings of the environment; raises SettingsError naming a variable with a value
        the pipeline cannot use (`check=False` skips that, for defaults set at import)."""
        env = os.environ if environ is None else environ
        if check:
            _check_settings(env)
        return cls(
            raw_dir=Path(env.get("CDP_RAW_DIR", DEFAULT_RAW_DIR)).resolve(),
            duckdb_path=Path(env.get("CDP_DUCKDB_PATH", DEFAULT_DUCKDB_PATH)).resolve(),
            landing_format=env.get("CDP_LANDING_FORMAT", "csv"),
            target=env.get("CDP_TARGET", "duckdb"),
            dbt_target_path=Path(env["DBT_TARGET_PATH"]) if env.get("DBT_TARGET_PATH") else None,
            spark_dir=Path(env.get("CDP_SPARK_DIR", DEFAULT_SPARK_DIR)).resolve(),
            landing_intake_dir=(
                Path(env["CDP_LANDING_INTAKE_DIR"]).resolve()
                if env.get("CDP_LANDING_INTAKE_DIR")
                else None
            ),
        )

    @property
    def intake_dir(self) -> Path:
        """Where the landing intake keeps what it took in (cdp/intake.py): beside the
        warehouse, so every warehouse has its own."""
        if self.landing_intake_dir is not None:
            return self.landing_intake_dir
        if self.target == "spark":
            return self.spark_dir / "landing"
        return self.duckdb_path.with_name(self.duckdb_path.name + ".landing")

    @property
    def warehouse_path(self) -> Path:
        """What identifies the warehouse: the DuckDB file, or Spark's directory."""
        return self.spark_dir if self.target == "spark" else self.duckdb_path

    def as_env(self) -> dict[str, str]:
        env = {
            "CDP_RAW_DIR": str(self.raw_dir),
            "CDP_DUCKDB_PATH": str(self.duckdb_path),
            "CDP_LANDING_FORMAT": self.landing_format,
            "CDP_TARGET": self.target,
            "CDP_SPARK_DIR": str(self.spark_dir),
            "CDP_LANDING_INTAKE_DIR": str(self.intake_dir),
        }
        if self.dbt_target_path is not None:
            env["DBT_TARGET_PATH"] = str(self.dbt_target_path)
        return env


def missing_landing_tables(settings: Settings) -> list[str]:
    """Landing tables with no file the landing intake can read (likely a wrong landing root)."""
    from cdp.intake import is_landing_file

    return [
        table
        for table in LANDING_TABLES
        if not (settings.raw_dir / table).is_dir()
        or not any(is_landing_file(path) for path in (settings.raw_dir / table).iterdir())
    ]


# dbt commands that read the landing data, so the landing intake runs before them.
READS_LANDING = {"build", "run", "test", "seed", "snapshot", "show", "retry", "compile"}


def take_in_landing(
    settings: Settings,
    args: list[str] | None = None,
    on_line: Callable[[str], None] | None = None,
):  # type: ignore[no-untyped-def]
    """Run the landing intake for a dbt invocation (cdp/intake.py); every entry point that
    builds the warehouse calls this first. A whole build with --full-refresh takes every
    landed file in afresh; a selected one never does (the rest keeps its landed files)."""
    from cdp.intake import take_in

    args = args or ["build"]
    full_refresh = "--full-refresh" in args and not ({"--select", "-s", "-m"} & set(args))
    summary = take_in(settings.raw_dir, settings.intake_dir, full_refresh=full_refresh)
    if on_line is not None:
        on_line(summary.line())
    return summary


@contextmanager
def dbt_environment(settings: Settings) -> Iterator[None]:
    """Set the variables profiles.yml and the sources read, restoring them afterwards."""
    saved = {key: os.environ.get(key) for key in settings.as_env()}
    os.environ.update(settings.as_env())
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    if settings.target == "spark":
        settings.spark_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def dbt_invocation(args: list[str], project_dir: Path | None = None) -> list[str]:
    """dbt's command line for `args` against the project (the repository's, or a copy in
    `project_dir`) and the profiles beside it, with only warnings on the console; every
    in-process dbt run (`run_dbt`, the segment preview's compile) starts from this."""
    project = project_dir if project_dir is not None else DBT_PROJECT_DIR
    return [
        *args,
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--log-level",
        "warn",
    ]


@dataclass
class DbtOutcome:
    success: bool
    seconds: float
    statuses: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run_dbt(
    args: list[str],
    settings: Settings,
    on_line: Callable[[str], None] | None = None,
    *,
    project_dir: Path | None = None,
) -> DbtOutcome:
    """Invoke dbt in-process with the project's directories; report one line per finished node.

    `project_dir` points dbt at another copy of the project (tests change a copy, never the
    project itself); by default it is the project in the repository.

    What dbt prints, writes to logs/dbt.log and to run_results.json, and what this function
    reports, is scrubbed of the row content database errors quote (cdp/dbt_logs.py).
    """
    from dbt.cli.main import dbtRunner

    from cdp.dbt_logs import (
        install_dbt_log_scrubbing,
        scrub_dbt_text,
        scrub_run_results,
        target_path,
    )

    install_dbt_log_scrubbing()

    outcome = DbtOutcome(success=False, seconds=0.0)
    emit = on_line or (lambda line: None)
    nodes_total = 0  # dbt reports a total with models, not with tests

    def on_event(event) -> None:  # type: ignore[no-untyped-def]
        nonlocal nodes_total
        name = event.info.name
        if name in ("LogModelResult", "LogTestResult", "LogSeedResult", "LogSnapshotResult"):
            data = event.data
            status = str(getattr(data, "status", "")).lower()
            node = getattr(data.node_info, "node_name", "") if hasattr(data, "node_info") else ""
            index = getattr(data, "index", 0)
            nodes_total = max(nodes_total, getattr(data, "total", 0))
            seconds = getattr(data, "execution_time", 0.0)
            outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            if status in ("error", "fail"):
                outcome.failures.append(node)
            emit(f"  [{index:>3}/{nodes_total}] {status:<7} {node} ({seconds:.1f}s)")
        elif name == "JinjaLogInfo":
            emit(f"          {scrub_dbt_text(event.info.msg)}")

    project = project_dir if project_dir is not None else DBT_PROJECT_DIR
    started = time.perf_counter()
    if args and args[0] in READS_LANDING:
        take_in_landing(settings, args, emit)
    with dbt_environment(settings):
        result = dbtRunner(callbacks=[on_event]).invoke(
            [*dbt_invocation(args, project), "--log-level-file", "info"]
        )
        scrub_run_results(target_path(args, project))  # DBT_TARGET_PATH is set in here
    outcome.seconds = time.perf_counter() - started
    outcome.success = bool(result.success)
    if result.exception is not None:
        outcome.failures.append(scrub_dbt_text(f"dbt: {result.exception}"))
    return outcome


def release_dbt_connection() -> None:
    """Close the DuckDB connection dbt-duckdb keeps open in this process after an in-process run.

    dbt-duckdb keeps one environment (one DuckDB instance) per process for its lifetime; left
    open it holds the warehouse file (read-write), and a later `duckdb.connect` in the same
    process shares that instance, or fails when it asks for another configuration (DuckDB opens
    one file with one configuration per process, e.g. the segment preview's read-only one).
    There is no public API for this, so it closes the adapter's environment.
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing to release
        return
    with DuckDBConnectionManager._LOCK:
        environment, DuckDBConnectionManager._ENV = DuckDBConnectionManager._ENV, None
    if environment is not None:
        environment.close()


def build(
    settings: Settings,
    on_line: Callable[[str], None] | None = None,
    *,
    selector: str | None = None,
    full_refresh: bool = False,
    project_dir: Path | None = None,
) -> DbtOutcome:
    """`dbt build` of the project (or of `selector`), with its tests.

    On Spark the predictive models are not dbt models (see cdp/predictive/warehouse.py), so a
    whole build runs in three steps in this process: everything up to the features, then
    `cdp predict` through the Spark session, then customer_traits and everything after it.
    A build with a selector runs only the dbt part.
    """
    extra = ["--full-refresh"] if full_refresh else []
    if selector:
        return run_dbt(
            ["build", "--select", selector, *extra], settings, on_line, project_dir=project_dir
        )
    if settings.target != "spark":
        return run_dbt(["build", *extra], settings, on_line, project_dir=project_dir)
    emit = on_line or (lambda line: None)
    first = run_dbt(
        ["build", "--exclude", "customer_traits+", *extra],
        settings,
        on_line,
        project_dir=project_dir,
    )
    if not first.success:
        return first
    started = time.perf_counter()
    try:
        written = predict(settings)
    except Exception as error:  # reported like a failed node; the rest of the build is skipped
        first.success = False
        first.failures.append(f"cdp predict: {error}")
        return first
    emit(
        "  predictive models (cdp predict): "
        + ", ".join(f"{name} {rows:,} rows" for name, rows in written.items())
        + f" ({time.perf_counter() - started:.1f}s)"
    )
    second = run_dbt(
        ["build", "--select", "customer_traits+", *extra],
        settings,
        on_line,
        project_dir=project_dir,
    )
    statuses = dict(first.statuses)
    for status, count in second.statuses.items():
        statuses[status] = statuses.get(status, 0) + count
    return DbtOutcome(
        success=second.success,
        seconds=first.seconds + time.perf_counter() - started,
        statuses=statuses,
        failures=first.failures + second.failures,
    )


def predict(settings: Settings) -> dict[str, int]:
    """Train and score the predictive models through the Spark session (spark target only)."""
    from cdp.predictive.warehouse import run_predictive_models
    from cdp.spark import spark_session

    if settings.target != "spark":
        raise ValueError("cdp predict is for the spark target; on DuckDB dbt runs the models")
    with dbt_environment(settings):
        return run_predictive_models(spark_session())


SUMMARY_QUERIES = {
    "landing": """
        select
            coalesce(sum(landed_rows), 0),
            coalesce(sum(staged_rows), 0),
            coalesce(sum(superseded_rows), 0),
            coalesce(sum(duplicate_delivery_rows), 0),
            coalesce(sum(quarantined_rows), 0)
        from audit.landing_audit
    """,
    "customers": """
        select
            count(*),
            coalesce(sum(source_record_count), 0),
            coalesce(sum(case when is_erased then 1 else 0 end), 0),
            coalesce(sum(case when is_oversized_profile then 1 else 0 end), 0)
        from core.customers
    """,
    "largest": """
        select customer_id, source_record_count, identifier_count
        from core.customers
        order by identifier_count desc, source_record_count desc, customer_id
        limit 1
    """,
    "unresolved": "select count(*) from identity.identity_unresolved_records",
    "suppressed": "select count(*) from identity.identity_suppressed_identifiers",
    "merges": "select count(*) from core.customer_id_merges",
    "segments": """
        select
            count(distinct segment_name),
            count(*),
            count(case when is_holdout then 1 end)
        from segments.segment_memberships
    """,
    "churn": """
        select any_value(churn_method), any_value(churn_model_auc), count(*)
        from predictive.customer_churn
    """,
    "clv": """
        select any_value(clv_method), avg(predicted_clv), count(*) from predictive.customer_clv
    """,
}


def _summary_rows(settings: Settings) -> dict[str, tuple | None]:
    row: dict[str, tuple | None] = {}
    if settings.target == "spark":
        from cdp.spark import spark_session

        with dbt_environment(settings):
            spark = spark_session()
        for name, query in SUMMARY_QUERIES.items():
            tables = re.findall(r"\bfrom\s+(\w+\.\w+)", query)
            if not all(spark.catalog.tableExists(table) for table in tables):
                row[name] = None  # a model the run did not build (e.g. --select)
                continue
            try:
                found = spark.sql(query).collect()
            except Exception:  # a model the run did not build (e.g. --select)
                row[name] = None
            else:
                row[name] = tuple(found[0]) if found else None
        return row
    import duckdb

    with duckdb.connect(str(settings.duckdb_path)) as connection:
        for name, query in SUMMARY_QUERIES.items():
            try:
                row[name] = connection.execute(query).fetchone()
            except duckdb.Error:  # a model the run did not build (e.g. --select)
                row[name] = None
    return row


def summarize(settings: Settings) -> list[str]:
    """A few lines a person can read after a run, straight from the warehouse."""
    row = _summary_rows(settings)
    if row["landing"] is None or row["customers"] is None:
        return ["(no summary: the single customer view was not built)"]
    landed, staged, superseded, duplicates, quarantined = row["landing"]
    customers, resolved, erased, oversized = row["customers"]
    lines = [
        f"rows landed        {landed:>12,}  (staged {staged:,}, superseded versions "
        f"{superseded:,}, duplicate deliveries {duplicates:,})",
        f"rows quarantined   {quarantined:>12,}  (see audit.landing_quarantine)",
        f"customers          {customers:>12,}  from {resolved:,} source records "
        f"({resolved - customers:,} records merged into existing profiles)",
        f"unresolved records {row['unresolved'][0]:>12,}  (only placeholder/shared identifiers)",
        f"suppressed values  {row['suppressed'][0]:>12,}  (placeholders and shared identifiers)",
        f"erased customers   {erased:>12,}",
        f"id merges recorded {row['merges'][0]:>12,}",
    ]
    if row["largest"]:
        customer_id, records, identifiers = row["largest"]
        lines.append(
            f"largest profile    {customer_id}: {identifiers} identifiers, {records} records"
            + (f"  ({oversized} over the size cap)" if oversized else "")
        )
    if row["segments"]:
        segments, members, held_out = row["segments"]
        lines.append(
            f"segments           {segments:>12,}  ({members:,} memberships, {held_out:,} held out)"
        )
    if row["churn"] and row["churn"][2]:
        method, auc, scored = row["churn"]
        quality = f"hold-out AUC {auc:.3f}" if auc is not None else "no AUC: too little history"
        lines.append(f"churn model        {scored:>12,}  scored by {method} ({quality})")
    if row["clv"] and row["clv"][2]:
        method, average, scored = row["clv"]
        lines.append(f"CLV model          {scored:>12,}  scored by {method} (mean {average:,.2f})")
    return lines
