"""Two builds of the same landing data give byte-identical traits and segments.

A warehouse adds rows in no fixed order (DuckDB runs with preserve_insertion_order=false and
combines the partial results of its threads in whatever order they finish), so a sum of
doubles can differ in its last digits between two builds of the same data. The second build
here also reads every landing file with its rows in reverse order, which a build must not
notice either. Which order a given build happens to use cannot be forced, so the six-decimals
test and the test of the exact_sum macro below pin the rounding itself.
"""

from __future__ import annotations

import csv
import itertools
import shutil
from pathlib import Path

import duckdb
import pytest

from sample_data.generator import generate_landing
from tests.conftest import build_warehouse, compile_inline, query

PEOPLE, SEED, AS_OF = 300, 5, "2025-07-01"


def _reversed_copy(raw_dir: Path, out: Path) -> None:
    """The same landing files, each with its data rows in reverse order."""
    shutil.copytree(raw_dir, out)
    for path in out.glob("*/*/*.csv"):
        with path.open(newline="") as file:
            header, *rows = list(csv.reader(file))
        with path.open("w", newline="") as file:
            csv.writer(file).writerows([header, *reversed(rows)])


def _table_hash(duckdb_path: Path, table: str) -> tuple[int, str]:
    """Row count and md5 of the table's rows, every column as text, in sorted order."""
    ((count, digest),) = query(
        duckdb_path,
        f"""
        select count(*), md5(string_agg(cast(t as varchar), chr(10) order by cast(t as varchar)))
        from {table} as t
        """,
    )
    return count, digest


def test_exact_sum_rounds_each_value_to_six_decimals_and_ignores_the_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exact_sum = compile_inline("{{ exact_sum('x') }}", tmp_path, monkeypatch)
    # Weights of an open 1 day ago, a click 30 days ago and an open 40 days ago (half-life 30).
    values = [0.5 ** (1 / 30), 2 * 0.5 ** (30 / 30), 0.5 ** (40 / 30), 0.1, 0.2]
    with duckdb.connect() as connection:
        results = set()
        plain = set()
        for order in itertools.permutations(values):
            rows = ", ".join(f"({i}, cast({value!r} as double))" for i, value in enumerate(order))
            source = f"(select x from (values {rows}) as t(i, x) order by i)"
            results.add(connection.execute(f"select {exact_sum} from {source}").fetchone()[0])
            plain.add(connection.execute(f"select sum(x) from {source}").fetchone()[0])
    # 0.977160 + 1 + 0.396850 + 0.1 + 0.2, whatever the order; a plain sum of the doubles is
    # not the same in every order.
    assert results == {2.67401}
    assert len(plain) > 1


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reproducible")
    generate_landing(
        people=PEOPLE, seed=SEED, out=root / "landing", fmt="csv", truth_dir=root / "t"
    )
    _reversed_copy(root / "landing", root / "landing_reversed")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("CDP_AS_OF", AS_OF)
        first, second = root / "first" / "cdp.duckdb", root / "second" / "cdp.duckdb"
        for raw_dir, duckdb_path in (
            (root / "landing", first),
            (root / "landing_reversed", second),
        ):
            duckdb_path.parent.mkdir()
            build_warehouse(raw_dir, duckdb_path)
    return first, second


@pytest.mark.parametrize("table", ["core.customer_traits", "segments.segment_memberships"])
def test_two_builds_of_the_same_data_are_byte_identical(
    two_builds: tuple[Path, Path], table: str
) -> None:
    first, second = two_builds
    count, digest = _table_hash(first, table)
    assert count > 0
    assert _table_hash(second, table) == (count, digest)


@pytest.mark.slow
def test_the_engagement_score_is_kept_to_six_decimals(two_builds: tuple[Path, Path]) -> None:
    first, _ = two_builds
    scores = [
        score
        for (score,) in query(first, "select email_engagement_score from core.customer_traits")
    ]
    assert any(score > 0 for score in scores)
    assert all(score == round(score, 6) for score in scores)
