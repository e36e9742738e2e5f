"""The hourly run after a 1% drop, incremental, against full builds of the same files.

    CDP_AS_OF=2025-07-02 .venv/bin/python benchmarks/incremental_hourly.py --people 100000 1000000

For each population size, on Parquet landing files (the initial load cached under
benchmarks/.work, shared with identity_scale.py, and linked into a working copy so the drop
never touches the cache):

1. full build: `dbt build` of everything on the initial load, into a new DuckDB file;
2. drop: `cdp generate --drop 1` writes one more day (about 1% more rows) as new files;
3. hourly: the hourly job's dbt selection (`landing_dbt_select()` / `HOURLY_DBT_EXCLUDE` from
   orchestration/schedules.py) on that warehouse, incremental models reading the new files;
4. full rebuild (the baseline): `dbt build` of everything on all files, into a new file;
5. hourly, full refresh (unless --skip-hourly-full-refresh): the same hourly selection with
   `--full-refresh`, i.e. what the hourly job costs when every model is rebuilt.

Each dbt command runs as the Dagster jobs run it: on a parsed project (partial parsing) and
without dbt unit tests. Each is a child process: wall time, its CPU time (user + system) and
peak RSS from the kernel (`wait4`), the load average before it, and per-model times from its
run_results.json.
On a shared machine the CPU time is the steadier measure of cost: other processes stretch the
wall time of every step, by different amounts. The incremental staging tables
are checked against the full rebuild's (row count and an order-free fingerprint). Prints JSON
and a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.identity_scale import WORK, landing_for  # noqa: E402
from cdp.pipeline import Settings  # noqa: E402
from orchestration.dbt import SCHEDULED_BUILD_ARGS  # noqa: E402
from orchestration.schedules import HOURLY_DBT_EXCLUDE, landing_dbt_select  # noqa: E402

BIN = Path(sys.executable).parent
INCREMENTAL_TABLES = [
    "staging.stg_events__tracks",
    "staging.stg_events__identifies",
    "staging.stg_email__events",
    "staging.stg_shop__orders",
    "staging.stg_shop__order_items",
    "staging.stg_crm__contacts",
    "staging.stg_shop__customers",
    "staging.stg_consent__events",
    "staging.stg_support__tickets",
    "staging.stg_privacy__deletion_requests",
]
# Where the hourly run's time goes: model folders, and dbt tests.
AREAS = ["staging", "landing", "identity", "privacy", "customers", "traits", "segments"]


def run_measured(command: list[str], env: dict[str, str], log: Path) -> dict[str, float]:
    """Run a child process, output to `log`: wall and CPU seconds, peak RSS (MiB), exit code."""
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "exit_code": os.waitstatus_to_exitcode(status),
    }


def linked_copy(source: Path, target: Path) -> None:
    """A copy of the landing directory made of hard links (the drop only adds files)."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, copy_function=os.link)


def dbt(args: list[str], env: dict[str, str], target: Path, log: Path) -> dict:
    """One measured dbt command, run the way the Dagster jobs run it: on a project parsed
    beforehand (dagster-dbt copies the prepared project's partial_parse.msgpack into each run's
    target directory) and without dbt unit tests (SCHEDULED_BUILD_ARGS)."""
    shutil.rmtree(target, ignore_errors=True)
    project = [
        "--project-dir",
        str(ROOT / "dbt_project"),
        "--profiles-dir",
        str(ROOT / "dbt_project"),
    ]
    env = {**env, "DBT_TARGET_PATH": str(target)}
    subprocess.run(
        [str(BIN / "dbt"), "parse", *project], env=env, check=True, stdout=subprocess.DEVNULL
    )
    load = os.getloadavg()
    # The landing intake runs before dbt, as in the Dagster job (cdp/intake.py); it is timed
    # as part of the step.
    intake_command = [str(BIN / "cdp"), "intake"]
    if "--full-refresh" in args and "--select" not in args:
        intake_command.append("--full-refresh")
    intake = run_measured(intake_command, env, log.with_suffix(".intake.log"))
    if intake["exit_code"] != 0:
        raise SystemExit(f"cdp intake failed (exit {intake['exit_code']}), see {log}")
    command = [str(BIN / "dbt"), *args, *SCHEDULED_BUILD_ARGS, *project]
    measured = run_measured(command, env, log)
    measured["intake_seconds"] = intake["seconds"]
    measured["seconds"] += intake["seconds"]
    measured["cpu_seconds"] += intake["cpu_seconds"]
    if measured["exit_code"] != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed (exit {measured['exit_code']}), see {log}")
    results = json.loads((target / "run_results.json").read_text())["results"]
    times = {result["unique_id"]: result["execution_time"] for result in results}
    manifest = json.loads((target / "manifest.json").read_text())
    areas: dict[str, float] = {}
    for unique_id, execution_time in times.items():
        node = manifest["nodes"].get(unique_id, {})
        if unique_id.startswith("test.") or unique_id.startswith("unit_test."):
            area = "tests"
        elif unique_id.startswith("model."):
            folders = node.get("fqn", ["", "", ""])[1:-1]
            area = folders[0] if folders else "other"
        else:
            area = "seeds and snapshots"
        areas[area] = areas.get(area, 0.0) + execution_time
    models = {
        unique_id.split(".")[-1]: seconds
        for unique_id, seconds in times.items()
        if unique_id.startswith("model.")
    }
    return {
        "seconds": measured["seconds"],
        "intake_seconds": measured["intake_seconds"],
        "cpu_seconds": measured["cpu_seconds"],
        "peak_rss_mib": measured["peak_rss_mib"],
        "load_before": [round(value, 2) for value in load],
        "nodes": len(times),
        "models": len(models),
        "node_seconds_by_area": dict(sorted(areas.items(), key=lambda item: -item[1])),
        "slowest_models": sorted(models.items(), key=lambda item: -item[1])[:12],
        "incremental_models": {
            name.split(".")[1]: models.get(name.split(".")[1]) for name in INCREMENTAL_TABLES
        },
    }


def fingerprints(duckdb_path: Path) -> dict[str, list[int]]:
    """Row count and an order-free fingerprint of each incremental staging table."""
    out = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        for table in INCREMENTAL_TABLES:
            schema, name = table.split(".")
            columns = [
                row[0]
                for row in connection.execute(
                    "select column_name from duckdb_columns() "
                    "where schema_name = ? and table_name = ? order by column_index",
                    [schema, name],
                ).fetchall()
            ]
            hashed = ", ".join(f'"{column}"' for column in columns)
            count, fingerprint = connection.execute(
                f"select count(*), bit_xor(hash({hashed})) from {table}"
            ).fetchone()
            out[table] = [count, int(fingerprint or 0)]
    return out


def benchmark(
    people: int,
    fmt: str,
    seed: int,
    drop: int,
    hourly_full_refresh: bool,
    hourly_as_of: str | None = None,
) -> dict:
    cached, _ = landing_for(people, fmt, seed)
    raw_dir = WORK / f"incremental-landing-{fmt}-{people}-s{seed}"
    linked_copy(cached, raw_dir)
    warehouse = WORK / f"incremental-{fmt}-{people}.duckdb"
    rebuilt = WORK / f"incremental-rebuild-{fmt}-{people}.duckdb"
    for path in (warehouse, rebuilt):
        path.unlink(missing_ok=True)
        Path(f"{path}.wal").unlink(missing_ok=True)
    env = {**os.environ, "CDP_RAW_DIR": str(raw_dir), "CDP_LANDING_FORMAT": fmt}
    hourly = ["build", "--select", landing_dbt_select(), "--exclude", HOURLY_DBT_EXCLUDE]
    result: dict = {"people": people, "format": fmt, "as_of": os.environ.get("CDP_AS_OF")}

    if hourly_as_of:
        result["hourly_as_of"] = hourly_as_of

    def step(name: str, args: list[str], duckdb_path: Path) -> None:
        print(f"[{people:,}] {name} ...", flush=True)
        step_env = {**env, "CDP_DUCKDB_PATH": str(duckdb_path)}
        if hourly_as_of and name != "full_build":
            # the hourly run and its baseline compute at the later as_of
            step_env["CDP_AS_OF"] = hourly_as_of
        # What `cdp` and the Dagster dbt step hand dbt: the warehouse's landing intake folder
        # (CDP_LANDING_INTAKE_DIR, beside the DuckDB file) among the pipeline's settings.
        step_env.update(Settings.from_env(step_env, check=False).as_env())
        result[name] = dbt(
            args,
            step_env,
            WORK / f"incremental-target-{people}-{name}",
            WORK / f"incremental-{people}-{name}.log",
        )
        print(
            f"[{people:,}] {name}: {result[name]['seconds']:.1f} s wall, "
            f"{result[name]['cpu_seconds']:.1f} s CPU, load before {result[name]['load_before']}",
            flush=True,
        )

    step("full_build", ["build"], warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        result["landed_rows_before"] = connection.execute(
            "select sum(landed_rows) from audit.landing_audit"
        ).fetchone()[0]

    started = time.perf_counter()
    subprocess.run(
        [
            str(BIN / "cdp"),
            "generate",
            f"--people={people}",
            f"--seed={seed}",
            f"--out={raw_dir}",
            f"--format={fmt}",
            f"--drop={drop}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    result["drop_generate_s"] = time.perf_counter() - started

    step("hourly_incremental", hourly, warehouse)
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        result["landed_rows_after"] = connection.execute(
            "select sum(landed_rows) from audit.landing_audit"
        ).fetchone()[0]
        result["customers"] = connection.execute("select count(*) from core.customers").fetchone()[
            0
        ]
    result["drop_rows"] = result["landed_rows_after"] - result["landed_rows_before"]
    incremental_tables = fingerprints(warehouse)

    step("full_rebuild", ["build"], rebuilt)
    rebuilt_tables = fingerprints(rebuilt)
    result["incremental_tables_match_full_rebuild"] = incremental_tables == rebuilt_tables
    result["incremental_tables"] = incremental_tables

    if hourly_full_refresh:
        step("hourly_full_refresh", [*hourly, "--full-refresh"], warehouse)
    return result


def markdown(results: list[dict]) -> str:
    steps = [
        ("full_build", "full build"),
        ("full_rebuild", "full rebuild after the drop (baseline)"),
        ("hourly_full_refresh", "hourly selection, --full-refresh"),
        ("hourly_incremental", "**hourly selection, incremental**"),
    ]
    lines = [
        "| people | drop rows | step | wall | CPU (user + sys) | peak RSS | load before |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for result in results:
        for key, label in steps:
            if key not in result:
                continue
            step = result[key]
            load = ", ".join(f"{value:.1f}" for value in step["load_before"])
            lines.append(
                f"| {result['people']:,} | {result['drop_rows']:,} | {label} "
                f"| {step['seconds']:.1f} s | {step['cpu_seconds']:.1f} s "
                f"| {step['peak_rss_mib']:,.0f} MiB | {load} |"
            )
        hourly, full = result["hourly_incremental"], result["full_rebuild"]
        lines.append(
            f"| {result['people']:,} | | hourly / full rebuild "
            f"| {hourly['seconds'] / full['seconds']:.0%} "
            f"| {hourly['cpu_seconds'] / full['cpu_seconds']:.0%} | | |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--drop", type=int, default=1)
    parser.add_argument("--skip-hourly-full-refresh", action="store_true")
    parser.add_argument(
        "--hourly-as-of",
        help="as_of of the hourly run and the full rebuild (default: CDP_AS_OF, as the first "
        "build), e.g. an hour later, so traits and segments also recheck window crossings",
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    python = sys.version.split()[0]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {python}", flush=True)
    results = []
    for people in args.people:
        result = benchmark(
            people,
            args.format,
            args.seed,
            args.drop,
            not args.skip_hourly_full_refresh,
            args.hourly_as_of,
        )
        print(json.dumps(result, indent=2, default=str), flush=True)
        results.append(result)
    suffix = f"-as-of-{args.hourly_as_of}".replace(" ", "T") if args.hourly_as_of else ""
    output = WORK / f"incremental_hourly{suffix}.json"
    output.write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))


if __name__ == "__main__":
    main()
