"""One step of the real-time evaluator over a built warehouse: how long its snapshot and a step
of N events take, and where the step's time goes.

    .venv/bin/python benchmarks/stream_step.py --warehouse benchmarks/.work/rt-1m.duckdb \\
        --dbt-target benchmarks/.work/rt-1m-target --events 1000

Takes the evaluator's snapshot of the build into a throwaway stream directory, appends one
`Product Added` per customer who can join `seg_cart_abandoners` (as the latency benchmark's
probes), and times one `step()` under cProfile; prints the two times and the profile's top
functions by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stream_latency import WORK, eligible_customers  # noqa: E402
from cdp.pipeline import Settings  # noqa: E402
from cdp.stream.evaluator import Evaluator  # noqa: E402
from cdp.stream.eventlog import EventLog  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--dbt-target", type=Path, required=True)
    parser.add_argument("--events", type=int, default=1000)
    arguments = parser.parse_args()
    settings = Settings(duckdb_path=arguments.warehouse, dbt_target_path=arguments.dbt_target)
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stream-step-", dir=WORK) as directory:
        evaluator = Evaluator(settings, Path(directory), batch_size=arguments.events)
        started = time.perf_counter()
        while evaluator.step():
            pass
        print(f"snapshot and first evaluation: {time.perf_counter() - started:.2f} s")
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        log = EventLog(Path(directory) / "log")
        log.append(
            [
                (
                    "track",
                    {
                        "type": "track",
                        "event": "Product Added",
                        "userId": shop_id,
                        "messageId": uuid.uuid4().hex,
                        "timestamp": now,
                        "properties": {},
                    },
                )
                for _, shop_id in eligible_customers(arguments.warehouse, arguments.events)
            ]
        )
        log.close()
        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        evaluator.step()
        profile.disable()
        print(f"one step of {arguments.events:,} events: {time.perf_counter() - started:.2f} s")
        pstats.Stats(profile).sort_stats("cumulative").print_stats(12)
        evaluator.close()


if __name__ == "__main__":
    main()
