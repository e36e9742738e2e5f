"""Build time of the whole pipeline on Spark (local mode) beside DuckDB, on the same files.

    .venv/bin/python benchmarks/spark_vs_duckdb.py --people 0 100000 --format parquet

`--people 0` means the committed sample in seeds/ (CSV). Other sizes are generated once with
`cdp generate` (cached under benchmarks/.work, like identity_scale.py). Each build is
`cdp run --no-sync` (every model, snapshot, unit and data test; on Spark also `cdp predict`)
into a fresh warehouse, in a child process, timed from start to exit, so Spark's times include
starting the JVM. Prints a Markdown table for BENCHMARKS.md and writes JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
from pathlib import Path

from identity_scale import WORK, landing_for, run_measured

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2025-07-01"


def build(target: str, raw_dir: Path, fmt: str, label: str) -> dict:
    work = WORK / f"spark-vs-duckdb-{label}-{target}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {
        **os.environ,
        "CDP_AS_OF": AS_OF,
        "CDP_TARGET": target,
        "CDP_RAW_DIR": str(raw_dir),
        "CDP_LANDING_FORMAT": fmt,
        "CDP_DUCKDB_PATH": str(work / "cdp.duckdb"),
        "CDP_SPARK_DIR": str(work / "spark"),
        "DBT_TARGET_PATH": str(work / "dbt-target"),
    }
    log = work / "build.log"
    cdp = str(Path(sys.executable).parent / "cdp")
    seconds, _, code = run_measured([cdp, "run", "--no-sync"], env, log)
    text = log.read_text()
    customers = re.search(r"customers\s+([\d,]+)\s+from", text)
    memberships = re.search(r"\(([\d,]+) memberships", text)
    return {
        "target": target,
        "seconds": round(seconds, 1),
        "exit_code": code,
        "customers": customers.group(1) if customers else None,
        "memberships": memberships.group(1) if memberships else None,
        "log": str(log),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, nargs="+", default=[0])
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--targets", nargs="+", default=["duckdb", "spark"])
    args = parser.parse_args()
    results = []
    for people in args.people:
        if people == 0:
            raw_dir, fmt, label = ROOT / "seeds", "csv", "sample"
        else:
            raw_dir, _ = landing_for(people, args.format, args.seed)
            fmt, label = args.format, f"{args.format}-{people}"
        for target in args.targets:
            result = {"people": people or "sample", **build(target, raw_dir, fmt, label)}
            print(json.dumps(result), flush=True)
            results.append(result)
    (WORK / "spark_vs_duckdb.json").write_text(
        json.dumps({"machine": platform.platform(), "results": results}, indent=2)
    )
    print("\n| people | target | customers | memberships | `cdp run --no-sync` |")
    print("|---:|---|---:|---:|---:|")
    for result in results:
        print(
            f"| {result['people']} | {result['target']} | {result['customers']} "
            f"| {result['memberships']} | {result['seconds']:.1f} s |"
        )


if __name__ == "__main__":
    main()
