"""Writing landing files and ground truth; running chunks (in parallel when there are several)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import sample_data.generator.reference as ref
import sample_data.generator.rows as R
import sample_data.generator.simulate as sim
import sample_data.generator.vec as vec
from sample_data.generator.drops import build_drop
from sample_data.generator.population import Ids, Plan, Stream, chunk_people

FORMATS = ("csv", "parquet")
TRUTH_COLUMNS = ["table", "record_key", "person_id"]
_NEEDS_QUOTES = r'[",\r\n]|^\s|\s$'


def csv_bytes(table: pa.Table, header: bool = True) -> bytes:
    """RFC 4180 CSV: values quoted only when needed, null as an empty field."""
    cols = []
    for column in table.columns:
        a = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        needs = pc.fill_null(pc.match_substring_regex(a, _NEEDS_QUOTES), False)
        if pc.any(needs).as_py():
            quoted = vec.cat('"', pc.replace_substring(a, '"', '""'), '"')
            a = pc.if_else(needs, quoted, a)
        cols.append(pc.fill_null(a, ""))
    head = (",".join(table.column_names) + "\n").encode() if header else b""
    if table.num_rows == 0:
        return head
    lines = pc.binary_join_element_wise(*cols, ",") if len(cols) > 1 else cols[0]
    lines = vec.cat(lines, "\n")
    offsets = np.frombuffer(
        lines.buffers()[1], dtype=np.int32, count=len(lines) + 1, offset=lines.offset * 4
    )
    data = lines.buffers()[2]
    return head + data.to_pybytes()[offsets[0] : offsets[-1]]


def write_table(table: pa.Table, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path.write_bytes(csv_bytes(table))
    else:
        pq.write_table(table, path, compression="zstd")


def _file_name(chunk: int, drop: int, fmt: str) -> str:
    part = f"part-{chunk:05d}.{fmt}"
    return part if drop == 0 else f"drop-{drop:04d}-{part}"


def run_chunk(
    plan: Plan, chunk: int, drop: int, out: Path, fmt: str
) -> tuple[dict[str, int], bytes]:
    """Build and write one chunk; return row counts and the chunk's ground truth as CSV."""
    if drop == 0:
        people = chunk_people(plan, chunk)
        ids = Ids(plan, chunk, 0)
        world = sim.build_world(plan, chunk, people, ids, ref.T1)
        tables = sim.history(plan, chunk, world, ids, ref.T1)
        at_least = 1
    else:
        tables, people = build_drop(plan, chunk, drop)
        at_least = 0
    rng = plan.rng(chunk, Stream.DELIVERY, drop)
    counts: dict[str, int] = {}
    truth: list[pa.Table] = []
    for name in R.TABLES:
        rows = tables[name]
        table = R.finalize(name, rows, rng, at_least)
        counts[name] = table.num_rows
        if drop == 0 or table.num_rows:
            write_table(table, out / name / _file_name(chunk, drop, fmt), fmt)
        if name in R.KEYS and rows.truth_keys is not None and len(rows.truth_keys):
            k = len(rows.truth_keys)
            truth.append(
                pa.table(
                    {
                        "table": pa.array([name] * k, type=vec.STR),
                        "record_key": rows.truth_keys,
                        "person_id": people.person_id.take(vec.ints(rows.truth_pidx)),
                    }
                )
            )
    truth_csv = b"".join(csv_bytes(t, header=False) for t in truth)
    return counts, truth_csv


def _run_chunk_args(args: tuple[Plan, int, int, Path, str]) -> tuple[dict[str, int], bytes]:
    return run_chunk(*args)


def _workers(n_chunks: int) -> int:
    configured = os.environ.get("CDP_GENERATOR_WORKERS")
    if configured:
        return max(1, min(int(configured), n_chunks))
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, n_chunks))


def _run(plan: Plan, drop: int, out: Path, fmt: str, truth_path: Path) -> dict[str, int]:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    tasks = [(plan, c, drop, out, fmt) for c in range(plan.n_chunks)]
    totals = dict.fromkeys(R.TABLES, 0)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = truth_path.with_name(truth_path.name + ".tmp")
    with tmp.open("wb") as f:
        f.write((",".join(TRUTH_COLUMNS) + "\n").encode())
        workers = _workers(len(tasks))
        if workers == 1:
            results = map(_run_chunk_args, tasks)
            for counts, truth in results:
                _add(totals, counts)
                f.write(truth)
        else:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                for counts, truth in pool.map(_run_chunk_args, tasks):
                    _add(totals, counts)
                    f.write(truth)
    tmp.replace(truth_path)
    return totals


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for k, v in counts.items():
        totals[k] += v


def _remove(paths: list[Path]) -> None:
    for p in paths:
        if p.is_file():
            p.unlink()


def generate_landing(
    people: int, seed: int, out: Path, fmt: str, truth_dir: Path
) -> dict[str, int]:
    """Write the initial load for `people` people and its ground truth.

    Replaces whatever the generator wrote before under `out` (part-* and drop-* files in the
    table folders) and in `truth_dir`, so that the folder holds exactly one consistent load.
    """
    out, truth_dir = Path(out), Path(truth_dir)
    for name in R.TABLES:
        folder = out / name
        if folder.is_dir():
            for pattern in ("part-*", "drop-*-part-*"):
                _remove([p for p in folder.glob(pattern) if p.suffix in (".csv", ".parquet")])
    if truth_dir.is_dir():
        _remove([truth_dir / "truth.csv", *truth_dir.glob("drop-*.csv")])
    return _run(Plan(people, seed), 0, out, fmt, truth_dir / "truth.csv")


def generate_drop(
    people: int, seed: int, out: Path, fmt: str, truth_dir: Path, drop: int
) -> dict[str, int]:
    """Write drop number `drop` (new files only) for the population of the initial load."""
    if drop < 1:
        raise ValueError("drop numbers start at 1")
    out, truth_dir = Path(out), Path(truth_dir)
    for name in R.TABLES:
        folder = out / name
        if folder.is_dir():
            _remove(list(folder.glob(f"drop-{drop:04d}-part-*.*")))
    return _run(Plan(people, seed), drop, out, fmt, truth_dir / f"drop-{drop:04d}.csv")
