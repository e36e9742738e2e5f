"""Latency of a real-time audience: from the client's send to the file destination's write.

    .venv/bin/python benchmarks/stream_latency.py \\
        --warehouse benchmarks/.work/incremental-parquet-1000000.duckdb \\
        --dbt-target benchmarks/.work/incremental-target-1000000-hourly_incremental \\
        --rate 1000 --seconds 300

Starts the real `cdp stream` (collector, event log, landing writer, real-time evaluator and
real-time syncs) over a built warehouse, as a child process on 127.0.0.1, with a throwaway
stream, landing and activation directory; waits until the evaluator has taken its snapshot of
the build and the real-time syncs have run once. Then sends `Product Added` track events for
distinct customers who can join `seg_cart_abandoners` (email consent, not unsubscribed or
bounced, not held out, not a member), at `--rate` events/s for `--seconds`, in /v1/batch
requests every `--interval` seconds (as an SDK's flush), each event stamped at its send. With
`--probe-share` below 1, only that share of the events are such probes; the others are
`Product Viewed` events of other known customers (traffic that changes no cart membership), so
a rate times a duration can exceed the eligible customers. A
reader follows the `cart_abandoners_to_file` destination's files and notes when each
customer's `add` is written. Reports, for the events sent: the latency p50/p95/p99/max (send
to write), how many arrived, the accepted rate, the evaluator's lag at the end, and the
server's peak RSS (VmHWM). Prints a Markdown table and writes JSON to
benchmarks/.work/stream_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stream_ingest import peak_rss_mib, percentile  # noqa: E402
from tests.stream.process import StreamProcess, free_port, wait_for  # noqa: E402

WORK = ROOT / "benchmarks" / ".work"
WRITE_KEY = "benchmark-write-key"
SYNC = "cart_abandoners_to_file"
SEGMENT = "seg_cart_abandoners"
HOLDOUT_SHARE = 0.1


def eligible_customers(warehouse: Path, limit: int) -> list[tuple[str, str]]:
    """(customer_id, shop_customer_id) of customers an event can bring into the segment and its
    sync: email consent, not excluded, not erased, not held out, not a member now, with one
    unshared shop id. In a random order, so they spread over the warehouse."""
    held_out = (
        f"cast(('0x' || substr(md5('{SEGMENT}:' || customers.customer_id), 1, 8)) as ubigint)"
        f" / 4294967296.0 < {HOLDOUT_SHARE}"
    )
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(
            f"""
            with shop_ids as (
                select identifier_value, min(customer_id) as customer_id
                from core.customer_identifiers
                where identifier_type = 'shop_customer_id'
                group by 1 having count(*) = 1
            )
            select customers.customer_id, shop_ids.identifier_value
            from core.customers
            inner join core.customer_traits as traits using (customer_id)
            inner join shop_ids using (customer_id)
            where customers.consent_email_marketing and customers.email is not null
                and not coalesce(traits.has_unsubscribed, false)
                and not coalesce(traits.has_bounced_or_complained, false)
                and not traits.is_erased
                and not ({held_out})
                and customers.customer_id not in (select customer_id from segments.{SEGMENT})
            order by hash(customers.customer_id)
            limit ?
            """,
            [limit],
        ).fetchall()


class DestinationReader(threading.Thread):
    """Follows the sync's JSON-lines files and notes when each record's `add` was written."""

    def __init__(self, directory: Path):
        super().__init__(daemon=True)
        self.directory = directory
        self.seen: dict[str, float] = {}
        self.stop = threading.Event()
        self._offsets: dict[Path, int] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            self.poll()
            self.stop.wait(0.02)
        self.poll()

    def poll(self) -> None:
        for path in sorted(self.directory.glob("*.jsonl")):
            offset = self._offsets.get(path, 0)
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            now = time.monotonic()
            for line in complete.splitlines():
                record = json.loads(line)
                if record.get("operation") == "add":
                    self.seen.setdefault(record["record_key"], now)
            self._offsets[path] = offset + len(complete)


def other_shop_ids(warehouse: Path, limit: int) -> list[str]:
    """Shop ids of known customers, for the traffic that is not a probe."""
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        rows = connection.execute(
            "select identifier_value from core.customer_identifiers"
            f" where identifier_type = 'shop_customer_id' using sample reservoir({int(limit)})"
        ).fetchall()
    return [row[0] for row in rows]


def _event(name: str, shop_id: str, now: datetime) -> dict:
    return {
        "type": "track",
        "event": name,
        "userId": shop_id,
        "messageId": uuid.uuid4().hex,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "properties": {"sku": "BENCH-1", "price": 19.99},
    }


def send(
    url: str,
    customers: list[tuple[str, str]],
    rate: float,
    interval: float,
    sent: dict,
    *,
    total: int,
    others: list[str],
) -> dict:
    """Send `total` events at `rate` events/s in batches every `interval` seconds: one probe
    (`Product Added`) per customer of `customers`, spread evenly, the rest `Product Viewed` of
    `others`; the send time of each probe in `sent`."""
    session = requests.Session()
    session.auth = (WRITE_KEY, "")
    per_batch = max(1, round(rate * interval))
    started = time.monotonic()
    refused = failed = accepted = 0
    probes = iter(customers)
    share = len(customers) / total
    emitted_probes = 0
    for number, first in enumerate(range(0, total, per_batch)):
        due = started + number * interval
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        now = datetime.now(UTC)
        batch, chunk = [], []
        for position in range(first, min(first + per_batch, total)):
            probe = None
            if emitted_probes < (position + 1) * share:
                probe = next(probes, None)
            if probe is not None:
                emitted_probes += 1
                chunk.append(probe[0])
                batch.append(_event("Product Added", probe[1], now))
            else:
                batch.append(_event("Product Viewed", others[position % len(others)], now))
        at = time.monotonic()
        try:
            response = session.post(f"{url}/v1/batch", json={"batch": batch}, timeout=30)
        except requests.RequestException:
            failed += len(batch)
            continue
        if response.status_code == 200:
            accepted += len(batch)
            for customer_id in chunk:
                sent[customer_id] = at
        elif response.status_code in (429, 503):
            refused += len(batch)
        else:
            failed += len(batch)
    return {
        "accepted": accepted,
        "refused": refused,
        "failed": failed,
        "send_seconds": time.monotonic() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="a built DuckDB warehouse")
    parser.add_argument(
        "--dbt-target", type=Path, required=True, help="the dbt target of that build"
    )
    parser.add_argument("--rate", type=float, default=1000, help="events per second")
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between batches")
    parser.add_argument("--settle", type=float, default=60, help="seconds to wait at the end")
    parser.add_argument(
        "--probe-share",
        type=float,
        default=1.0,
        help="share of the events that are measured cart adds of eligible customers",
    )
    arguments = parser.parse_args()

    wanted = int(arguments.rate * arguments.seconds)
    probes = int(wanted * arguments.probe_share)
    customers = eligible_customers(arguments.warehouse, probes)
    if len(customers) < probes:
        raise SystemExit(
            f"only {len(customers):,} eligible customers for {probes:,} probes: lower"
            " --probe-share, --rate or --seconds"
        )
    others = other_shop_ids(arguments.warehouse, 50_000) if probes < wanted else []
    WORK.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="stream-latency-", dir=WORK))
    activation = directory / "activation"
    activation.mkdir()
    server = StreamProcess(
        port=free_port(),
        raw_dir=directory / "raw",
        duckdb_path=arguments.warehouse,
        stream_dir=directory / "stream",
        output=directory / "server.log",
        environment={
            "CDP_WRITE_KEY": WRITE_KEY,
            "CDP_ACTIVATION_DIR": str(activation),
            "DBT_TARGET_PATH": str(arguments.dbt_target.resolve()),
        },
    )
    result: dict = {
        "warehouse": str(arguments.warehouse),
        "rate": arguments.rate,
        "seconds": arguments.seconds,
        "interval": arguments.interval,
        "events": wanted,
        "probes": probes,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
    }
    reader = DestinationReader(activation / SYNC)
    try:
        started = time.monotonic()
        server.wait_until_healthy(120)
        result["collector_ready_s"] = round(time.monotonic() - started, 1)
        if not wait_for(lambda: f"{SYNC}: success" in server.output(), 1800, interval=1):
            raise SystemExit(f"the real-time sync never ran; see {directory / 'server.log'}")
        result["snapshot_and_first_sync_s"] = round(time.monotonic() - started, 1)
        print(f"stream ready in {result['snapshot_and_first_sync_s']} s", flush=True)
        reader.start()
        result["load_before"] = list(os.getloadavg())
        sent: dict[str, float] = {}
        result.update(
            send(
                server.url,
                customers,
                arguments.rate,
                arguments.interval,
                sent,
                total=wanted,
                others=others,
            )
        )
        result["accepted_per_second"] = round(result["accepted"] / result["send_seconds"])
        wait_for(lambda: set(sent) <= set(reader.seen), arguments.settle, interval=0.5)
        reader.stop.set()
        reader.join(timeout=30)
        result["peak_rss_mib"] = round(peak_rss_mib(server.pid))
        latencies = [reader.seen[key] - at for key, at in sent.items() if key in reader.seen]
        result["arrived"] = len(latencies)
        for name, share in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99), ("max", 1.0)):
            result[f"latency_{name}_s"] = round(percentile(latencies, share), 2)
        health = requests.get(f"{server.url}/health", timeout=10).json()
        result["collector_health"] = health
    finally:
        reader.stop.set()
        server.terminate(300)
    print(json.dumps(result, indent=2), flush=True)
    (WORK / "stream_latency.json").write_text(json.dumps(result, indent=2))
    print()
    print("| rate | seconds | accepted | probes | arrived | p50 | p95 | p99 | max | peak RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {arguments.rate:,.0f}/s | {arguments.seconds:.0f} | {result['accepted']:,} "
        f"| {len(sent):,} | {result['arrived']:,} | {result['latency_p50_s']} s"
        f" | {result['latency_p95_s']} s "
        f"| {result['latency_p99_s']} s | {result['latency_max_s']} s "
        f"| {result['peak_rss_mib']:,} MiB |"
    )
    shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
