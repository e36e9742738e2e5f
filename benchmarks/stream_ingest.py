"""Highest sustained ingest rate of `cdp stream`: accepted events/s, request latency, peak RSS.

    .venv/bin/python benchmarks/stream_ingest.py --clients 8 32 64 --seconds 60 --batch-size 100

Starts the real `cdp stream` (collector, group commit to the fsynced event log, landing
writer) as a child process on 127.0.0.1 with a throwaway stream and landing directory. For
each number of concurrent clients, client processes (each with threads and a keep-alive HTTP
session, as an SDK's consumer) send batches of `--batch-size` track events to /v1/batch in a
closed loop for `--seconds`; only answers 200 count as accepted (503/429 are counted apart).
Reports accepted events/s, requests/s, the request latency p50/p95/p99, refusals, the
server's peak RSS (VmHWM) and whether the landing writer kept up. The clients run on the same
machine as the server and share its cores, so the figures are a lower bound. Prints a
Markdown table and writes JSON to benchmarks/.work/stream_ingest.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cdp.stream.eventlog import EventLog  # noqa: E402
from tests.stream.process import StreamProcess, free_port  # noqa: E402

WORK = ROOT / "benchmarks" / ".work"
WRITE_KEY = "benchmark-write-key"


def _client_process(url: str, threads: int, seconds: float, batch_size: int, results) -> None:
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    totals = {"accepted": 0, "requests": 0, "refused": 0, "failed": 0}
    latencies: list[float] = []

    def run(thread_number: int) -> None:
        session = requests.Session()
        session.auth = (WRITE_KEY, "")
        prefix = uuid.uuid4().hex[:8]
        sequence = 0
        local_latencies = []
        local = {"accepted": 0, "requests": 0, "refused": 0, "failed": 0}
        while time.monotonic() < stop_at:
            batch = []
            for _ in range(batch_size):
                sequence += 1
                batch.append(
                    {
                        "type": "track",
                        "userId": f"u{thread_number}-{sequence % 1000}",
                        "event": "Product Viewed",
                        "messageId": f"{prefix}-{sequence}",
                        "properties": {"sku": f"SKU-{sequence % 500}", "price": 19.99},
                    }
                )
            started = time.perf_counter()
            try:
                response = session.post(f"{url}/v1/batch", json={"batch": batch}, timeout=30)
            except requests.RequestException:
                local["failed"] += 1
                continue
            local_latencies.append(time.perf_counter() - started)
            local["requests"] += 1
            if response.status_code == 200:
                local["accepted"] += batch_size
            elif response.status_code in (429, 503):
                local["refused"] += 1
                time.sleep(float(response.headers.get("Retry-After", "1")) / 10)
            else:
                local["failed"] += 1
        with lock:
            for key, value in local.items():
                totals[key] += value
            latencies.extend(local_latencies)

    workers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put({**totals, "latencies": latencies})


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _end_offset(stream_dir: Path) -> int:
    return EventLog(stream_dir / "log").end_offset()


def measure(clients: int, seconds: float, batch_size: int, processes: int, url: str) -> dict:
    processes = max(1, min(processes, clients))
    per_process = [
        clients // processes + (1 if n < clients % processes else 0) for n in range(processes)
    ]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    children = [
        context.Process(target=_client_process, args=(url, threads, seconds, batch_size, results))
        for threads in per_process
    ]
    started = time.monotonic()
    for child in children:
        child.start()
    collected = [results.get() for _ in children]
    for child in children:
        child.join()
    elapsed = time.monotonic() - started
    latencies = [value for result in collected for value in result["latencies"]]
    accepted = sum(result["accepted"] for result in collected)
    return {
        "clients": clients,
        "batch_size": batch_size,
        "seconds": round(elapsed, 1),
        "accepted_events": accepted,
        "events_per_second": round(accepted / elapsed),
        "requests_per_second": round(sum(r["requests"] for r in collected) / elapsed),
        "refused_requests": sum(result["refused"] for result in collected),
        "failed_requests": sum(result["failed"] for result in collected),
        "latency_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "latency_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "latency_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch-size", type=int, default=100, help="events per request")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--format", choices=["csv", "parquet"], default="parquet")
    arguments = parser.parse_args()

    directory = Path(tempfile.mkdtemp(prefix="stream-ingest-", dir=WORK if WORK.exists() else None))
    (directory / "raw").mkdir(parents=True)
    server = StreamProcess(
        port=free_port(),
        raw_dir=directory / "raw",
        duckdb_path=directory / "cdp.duckdb",
        stream_dir=directory / "stream",
        output=directory / "server.log",
        environment={"CDP_WRITE_KEY": WRITE_KEY},
        extra_args=["--format", arguments.format],
    )
    url = server.url
    rows = []
    try:
        server.wait_until_healthy(60)
        for clients in arguments.clients:
            row = measure(
                clients, arguments.seconds, arguments.batch_size, arguments.client_processes, url
            )
            row["peak_rss_mib"] = round(peak_rss_mib(server.pid))
            health = requests.get(f"{url}/health", timeout=10).json()
            row["fsyncs_so_far"] = health["commits"]
            rows.append(row)
            print(json.dumps(row), flush=True)
        logged = _end_offset(directory / "stream")
        settle = time.monotonic() + 60
        landing_checkpoint = directory / "stream" / "checkpoints" / "landing.checkpoint.json"
        landed = 0
        while time.monotonic() < settle:
            if landing_checkpoint.exists():
                landed = json.loads(landing_checkpoint.read_text())["offset"]
            if landed >= logged:
                break
            time.sleep(0.5)
    finally:
        server.terminate(120)

    print()
    print(
        "| clients | batch | accepted events/s | requests/s | p50 ms | p95 ms | p99 ms | refused"
        " | peak RSS MiB |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['clients']} | {row['batch_size']} | {row['events_per_second']:,} | "
            f"{row['requests_per_second']:,} | {row['latency_p50_ms']} | {row['latency_p95_ms']} | "
            f"{row['latency_p99_ms']} | {row['refused_requests']} | {row['peak_rss_mib']} |"
        )
    print(f"\nlogged {logged:,} events, landed {landed:,} within 60 s of the end")
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "format": arguments.format,
        "rows": rows,
        "logged": logged,
        "landed": landed,
    }
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "stream_ingest.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
