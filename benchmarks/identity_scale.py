"""Full-build time and peak memory at scale, and the identity step beside networkx.

    .venv/bin/python benchmarks/identity_scale.py --people 100000 1000000 --format parquet

For each population size: generate the landing files once (cached under benchmarks/.work),
build the whole dbt project into a fresh DuckDB file in a child process (wall time and the
child's peak RSS from the kernel), read per-model times from dbt's run_results.json, then
rebuild the identity graph's edge list from the compiled SQL of int_identity__components and
time networkx connected components on exactly those edges, checking both find the same
number of components. Prints a Markdown table for BENCHMARKS.md and writes JSON beside it.
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
WORK = ROOT / "benchmarks" / ".work"
DBT_TARGET = WORK / "dbt-target"  # the benchmark's own dbt artifacts
IDENTITY_MODELS = [
    "int_identity__observations",
    "int_identity__identifiers",
    "int_identity__components",
    "int_identity__customer_id_registry",
]


def run_measured(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, int]:
    """Run a child process, output to `log`; return (seconds, peak RSS in MiB, exit code)."""
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def landing_for(people: int, fmt: str, seed: int) -> tuple[Path, float | None]:
    raw_dir = WORK / f"landing-{fmt}-{people}-s{seed}"
    if (raw_dir / "_truth" / "truth.csv").exists():
        return raw_dir, None
    shutil.rmtree(raw_dir, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [
            str(Path(sys.executable).parent / "cdp"),
            "generate",
            f"--people={people}",
            f"--seed={seed}",
            f"--out={raw_dir}",
            f"--format={fmt}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return raw_dir, time.perf_counter() - started


def model_times() -> dict[str, float]:
    results = json.loads((DBT_TARGET / "run_results.json").read_text())
    return {
        result["unique_id"].split(".")[-1]: result["execution_time"]
        for result in results["results"]
        if result["unique_id"].startswith("model.")
    }


def networkx_components(duckdb_path: Path) -> dict[str, float | int]:
    """Connected components with networkx on the same edges the warehouse used."""
    import networkx

    compiled = next(DBT_TARGET.glob("compiled/cdp/models/identity/int_identity__components.sql"))
    with duckdb.connect(str(duckdb_path)) as connection:
        started = time.perf_counter()
        edges = connection.sql(compiled.read_text()).to_arrow_table()
        loaded = time.perf_counter()
        warehouse_components = connection.execute(
            "select count(distinct component_id) from identity.int_identity__components"
        ).fetchone()[0]
    graph = networkx.Graph()
    graph.add_edges_from(
        zip(edges.column("node_id").to_numpy(), edges.column("neighbor_id").to_numpy(), strict=True)
    )
    built = time.perf_counter()
    components = sum(1 for _ in networkx.connected_components(graph))
    done = time.perf_counter()
    assert components == warehouse_components, (components, warehouse_components)
    return {
        "edges": edges.num_rows,
        "nodes": graph.number_of_nodes(),
        "components": components,
        "load_edges_s": loaded - started,
        "build_graph_s": built - loaded,
        "connected_components_s": done - built,
        "networkx_total_s": done - started,
    }


def benchmark(people: int, fmt: str, seed: int) -> dict:
    raw_dir, generate_seconds = landing_for(people, fmt, seed)
    duckdb_path = WORK / f"warehouse-{fmt}-{people}.duckdb"
    duckdb_path.unlink(missing_ok=True)
    env = {
        **os.environ,
        "CDP_RAW_DIR": str(raw_dir),
        "CDP_DUCKDB_PATH": str(duckdb_path),
        "CDP_LANDING_FORMAT": fmt,
        "DBT_TARGET_PATH": str(DBT_TARGET),
    }
    cdp = str(Path(sys.executable).parent / "cdp")
    log = WORK / f"build-{fmt}-{people}.log"
    seconds, peak_mib, code = run_measured([cdp, "run"], env, log)
    if code != 0:
        raise SystemExit(f"build failed for {people} people (exit {code}), see {log}")
    times = model_times()
    rows = {}
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        rows["landed_rows"] = connection.execute(
            "select sum(landed_rows) from audit.landing_audit"
        ).fetchone()[0]
        rows["customers"] = connection.execute("select count(*) from core.customers").fetchone()[0]
        rows["rounds"] = connection.execute(
            "select max(resolved_in_rounds) from identity.int_identity__components"
        ).fetchone()[0]
    return {
        "people": people,
        "format": fmt,
        "generate_s": generate_seconds,
        "build_s": seconds,
        "build_peak_rss_mib": peak_mib,
        **rows,
        "components_model_s": times.get("int_identity__components"),
        "identity_models_s": sum(times.get(name, 0.0) for name in IDENTITY_MODELS),
        "slowest_models": sorted(times.items(), key=lambda item: -item[1])[:5],
        "networkx": networkx_components(duckdb_path),
    }


def markdown(results: list[dict]) -> str:
    lines = [
        "| people | format | landed rows | customers | full build (dbt build) | peak RSS "
        "| components model (DuckDB) | networkx: load edges + build graph + components "
        "| networkx components only | rounds |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        nx = result["networkx"]
        lines.append(
            f"| {result['people']:,} | {result['format']} | {result['landed_rows']:,} "
            f"| {result['customers']:,} | {result['build_s']:.1f} s "
            f"| {result['build_peak_rss_mib']:,.0f} MiB | {result['components_model_s']:.2f} s "
            f"| {nx['networkx_total_s']:.2f} s | {nx['connected_components_s']:.2f} s "
            f"| {result['rounds']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    python = sys.version.split()[0]
    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, python {python}")
    results = []
    for people in args.people:
        result = benchmark(people, args.format, args.seed)
        print(json.dumps(result, indent=2, default=str), flush=True)
        results.append(result)
    (WORK / "identity_scale.json").write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))


if __name__ == "__main__":
    main()
