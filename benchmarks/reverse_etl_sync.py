"""Reverse ETL at scale: an initial sync of N members, then a 1% change, against a local server.

    .venv/bin/python benchmarks/reverse_etl_sync.py --members 1000000 --batch-size 10000

A DuckDB file holds a segment of N consenting members. The destination is the signed webhook
pointed at a server on 127.0.0.1 running in its own process, which verifies every signature,
parses every body and counts requests and records. Each phase runs the engine in a child
process, so its wall time and peak RSS (from the kernel) are the engine's alone:

1. initial: the first sync, every member an addition;
2. delta_dry_run: after 1% of members change (0.4% new field values, 0.3% join, 0.3% leave),
   the time to compute the delta in the warehouse and stream it (nothing sent);
3. delta: the real sync of that change;
4. naive_full_resend: the same change sent the naive way, every desired member again
   (`full_resync`), the baseline a delta sync is compared with.

Prints a Markdown table for BENCHMARKS.md and writes JSON beside this file.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "reverse_etl"
SECRET = "benchmark-webhook-secret"


def serve(port_queue: multiprocessing.Queue, counters: dict) -> None:
    """The destination: verify the signature, parse the body, count requests and records."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            status = 200 if hmac.compare_digest(expected, self.headers["X-Signature"]) else 401
            document = json.loads(body)
            counters["requests"] += 1
            counters["records"] += len(document["records"])
            counters[f"records_{document['operation']}"] = counters.get(
                f"records_{document['operation']}", 0
            ) + len(document["records"])
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def build_segment(path: Path, members: int) -> None:
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            f"""
            create table segments.seg_benchmark as
            select
                'c' || lpad(cast(i as varchar), 8, '0') as customer_id,
                false as is_holdout,
                true as has_consent,
                'person' || i || '@example.com' as email,
                'First' || (i % 5000) as first_name,
                'Last' || (i % 7919) as last_name,
                ['GB', 'FR', 'DE', 'NL', 'US'][1 + i % 5] as country,
            from range({members}) as numbers(i)
            """
        )


def change_one_percent(path: Path, members: int) -> dict[str, int]:
    """0.4% change a field, 0.3% leave, 0.3% new people join: 1% of members in all."""
    changed, left, joined = (round(members * share) for share in (0.004, 0.003, 0.003))
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            "update segments.seg_benchmark set country = 'IE'"
            f" where cast(substr(customer_id, 2) as integer) < {changed}"
        )
        connection.execute(
            "delete from segments.seg_benchmark where cast(substr(customer_id, 2) as integer)"
            f" between {changed} and {changed + left - 1}"
        )
        connection.execute(
            f"""
            insert into segments.seg_benchmark
            select 'n' || lpad(cast(i as varchar), 8, '0'), false, true,
                'new' || i || '@example.com', 'New', 'Person', 'GB',
            from range({joined}) as numbers(i)
            """
        )
    return {"change": changed, "remove": left, "add": joined}


def sync_config(url: str, batch_size: int) -> dict:
    return {
        "name": "benchmark_hook",
        "source": "segments.seg_benchmark",
        "fields": {
            "email": "email",
            "first_name": "first_name",
            "last_name": "last_name",
            "country": "country",
        },
        "erasure_relation": None,
        "batch_size": batch_size,
        "destination": {
            "type": "webhook",
            "options": {"url": url, "secret_env": "BENCHMARK_SECRET", "max_batch_size": batch_size},
        },
    }


def phase(database: Path, config: Path, mode: str) -> None:
    """Child process: run one sync (or dry run) and print its result as JSON."""
    from reverse_etl.config import SyncConfig
    from reverse_etl.destinations import build_destination
    from reverse_etl.engine import run_sync
    from reverse_etl.warehouse import DuckDBWarehouse

    sync = SyncConfig.model_validate(json.loads(config.read_text()))
    warehouse = DuckDBWarehouse.connect(database)
    started = time.perf_counter()
    result = run_sync(
        sync,
        warehouse,
        build_destination(sync),
        dry_run=mode == "dry_run",
        full_resync=mode == "full_resync",
    )
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "planned": result.planned,
                "added": result.added,
                "changed": result.changed,
                "removed": result.removed,
                "failed": result.failed,
                "requests": result.requests,
            }
        )
    )


def run_phase(database: Path, config: Path, mode: str) -> dict:
    command = [sys.executable, __file__, "--phase", mode, str(database), str(config)]
    env = os.environ | {"BENCHMARK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"phase {mode} failed")
    result = json.loads(output.decode().strip().splitlines()[-1])
    return result | {"wall_seconds": wall, "peak_rss_mib": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--phase", nargs=3, metavar=("MODE", "DATABASE", "CONFIG"))
    arguments = parser.parse_args()
    if arguments.phase:
        mode, database, config = arguments.phase
        phase(Path(database), Path(config), mode)
        return

    WORK.mkdir(parents=True, exist_ok=True)
    members, batch_size = arguments.members, arguments.batch_size
    database = WORK / f"segment-{members}.duckdb"
    started = time.perf_counter()
    build_segment(database, members)
    print(f"segment of {members:,} members built in {time.perf_counter() - started:.1f} s")

    manager = multiprocessing.Manager()
    counters = manager.dict(requests=0, records=0)
    ports: multiprocessing.Queue = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports, counters), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=30)}/hook"
    config = WORK / "sync.json"
    config.write_text(json.dumps(sync_config(url, batch_size)))

    results: dict[str, dict] = {}

    def measured(name: str, mode: str) -> None:
        counters.update(requests=0, records=0)
        for key in [key for key in list(counters.keys()) if key.startswith("records_")]:
            del counters[key]
        result = run_phase(database, config, mode)
        result |= {"server_requests": counters["requests"], "server_records": counters["records"]}
        results[name] = result
        print(name, json.dumps(result))

    try:
        measured("initial", "sync")
        changes = change_one_percent(database, members)
        measured("delta_dry_run", "dry_run")
        measured("delta", "sync")
        # The same change once more, the naive way: put the change back, resend everything.
        measured("noop", "sync")
        measured("naive_full_resend", "full_resync")
    finally:
        server.terminate()

    minimum = sum(math.ceil(count / batch_size) for count in changes.values())
    report = {
        "members": members,
        "batch_size": batch_size,
        "changes": changes,
        "minimum_delta_requests": minimum,
        "results": results,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "load_average": os.getloadavg(),
    }
    (WORK / f"results-{members}.json").write_text(json.dumps(report, indent=2))

    initial, delta = results["initial"], results["delta"]
    naive, dry = results["naive_full_resend"], results["delta_dry_run"]
    print()
    print(
        f"| {members:,} members, batch {batch_size:,} | records | requests | time (s) "
        "| records/s | peak RSS (MiB) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for label, row in [
        ("initial sync", initial),
        ("1% change: delta found (dry run)", dry),
        ("1% change: delta sync", delta),
        ("1% change: nothing changed since (no-op run)", results["noop"]),
        ("1% change: naive full resend (baseline)", naive),
    ]:
        records = (
            row["server_records"]
            if label != "1% change: delta found (dry run)"
            else sum(row["planned"].values())
        )
        rate = records / row["seconds"] if row["seconds"] else 0
        print(
            f"| {label} | {records:,} | {row['server_requests']:,} | {row['seconds']:.2f} "
            f"| {rate:,.0f} | {row['peak_rss_mib']:.0f} |"
        )
    print(f"\nminimum requests for the delta: {minimum}; load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
