"""Property: whatever the membership does and whatever fails, the destination converges.

Hypothesis draws a sequence of steps. Each step changes the source (who is a member, who
consents, who is erased, what their fields are), then syncs through a destination that may
fail after some batches, time out mid-run or reject some records once. After the step's runs
the destination must hold exactly the desired members with their current fields, holdouts
must never have been sent, and no acknowledged record may have been sent twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reverse_etl.config import MassChangeConfig, SyncConfig
from reverse_etl.destinations.base import Batch, BatchResult
from reverse_etl.engine import run_sync
from reverse_etl.warehouse import DuckDBWarehouse, Warehouse

PEOPLE = [f"p{number:02d}" for number in range(24)]
HOLDOUT = {"p03", "p11", "p19"}
COUNTRIES = ["GB", "FR", "DE"]


class FlakyAudience:
    """A destination that holds members, and fails the way real APIs do when told to."""

    rate_limit_per_second = None
    supports_erase = True  # an erase is a removal here, nothing more to delete
    secrets: list[str] = []  # noqa: RUF012  # it holds no credentials

    def __init__(self, max_batch_size: int) -> None:
        self.max_batch_size = max_batch_size
        self.members: dict[str, dict] = {}
        self.ever_sent: set[str] = set()
        # (operation, key, payload) acknowledged, in order: a repeat of the latest entry
        # for a key means an acknowledged record was sent again.
        self.acknowledged: list[tuple[str, str, str | None]] = []
        self.fail_after_batches: int | None = None
        self.reject_once: set[str] = set()
        self.batches = 0

    def send(self, batch: Batch) -> BatchResult:
        if self.fail_after_batches is not None and self.batches >= self.fail_after_batches:
            raise ConnectionError("connection reset by peer")
        self.batches += 1
        result = BatchResult()
        for record in batch.records:
            if record.record_key in self.reject_once:
                self.reject_once.discard(record.record_key)
                result.rejected[record.record_key] = "rate limited for this profile"
                continue
            self.ever_sent.add(record.record_key)
            if batch.operation in ("remove", "erase"):
                self.members.pop(record.record_key, None)
            else:
                self.members[record.record_key] = record.payload
            self.acknowledged.append(
                (batch.operation, record.record_key, repr(sorted((record.payload or {}).items())))
            )
            result.acknowledged[record.record_key] = f"id-{record.record_key}"
        return result


steps = st.lists(
    st.fixed_dictionaries(
        {
            "members": st.sets(st.sampled_from(PEOPLE)),
            "without_consent": st.sets(st.sampled_from(PEOPLE), max_size=6),
            "erased": st.sets(st.sampled_from(PEOPLE), max_size=2),
            "countries": st.dictionaries(
                st.sampled_from(PEOPLE), st.sampled_from(COUNTRIES), max_size=8
            ),
            "fail_after_batches": st.none() | st.integers(min_value=0, max_value=4),
            "reject_once": st.sets(st.sampled_from(PEOPLE), max_size=3),
        }
    ),
    min_size=1,
    max_size=5,
)


# Replaces a relation with these rows: (relation, [(column, SQL type)], rows).
ReplaceRelation = Callable[[str, list[tuple[str, str]], list[tuple]], None]

CUSTOMER_COLUMNS = [("customer_id", "varchar"), ("is_erased", "boolean")]
AUDIENCE_COLUMNS = [
    ("customer_id", "varchar"),
    ("is_holdout", "boolean"),
    ("has_consent", "boolean"),
    ("email", "varchar"),
    ("country", "varchar"),
]


@pytest.fixture
def warehouse() -> Iterator[DuckDBWarehouse]:
    opened = DuckDBWarehouse(duckdb.connect(":memory:"))
    yield opened
    opened.close()


def duckdb_replacer(warehouse: DuckDBWarehouse) -> ReplaceRelation:
    def replace(relation: str, columns: list[tuple[str, str]], rows: list[tuple]) -> None:
        warehouse.execute(f"create schema if not exists {relation.split('.')[0]}")
        definition = ", ".join(f"{name} {kind}" for name, kind in columns)
        warehouse.execute(f"create or replace table {relation} ({definition})")
        if rows:
            unnested = ", ".join(
                f"unnest(${position}::{kind}[])"
                for position, (_, kind) in enumerate(columns, start=1)
            )
            warehouse.execute(
                f"insert into {relation} select {unnested}",
                [list(column) for column in zip(*rows, strict=True)],
            )

    return replace


def _apply(replace: ReplaceRelation, schemas: tuple[str, str], step: dict, erased: set[str]):
    segments, core = schemas
    replace(
        f"{core}.customers",
        CUSTOMER_COLUMNS,
        [(person, person in erased) for person in PEOPLE],
    )
    replace(
        f"{segments}.seg_audience",
        AUDIENCE_COLUMNS,
        [
            (
                person,
                person in HOLDOUT,
                person not in step["without_consent"],
                f"{person}@example.com",
                step["countries"].get(person, "GB"),
            )
            for person in sorted(step["members"])
        ],
    )


def _desired(step: dict, erased_so_far: set[str]) -> dict[str, dict]:
    return {
        person: {"country": step["countries"].get(person, "GB"), "email": f"{person}@example.com"}
        for person in step["members"]
        if person not in HOLDOUT
        and person not in step["without_consent"]
        and person not in erased_so_far
    }


def check_convergence(
    warehouse: Warehouse,
    replace: ReplaceRelation,
    steps: list[dict],
    batch_size: int,
    mode: str,
    *,
    sync_name: str = "audience",
    schemas: tuple[str, str] = ("segments", "core"),
) -> None:
    """The property, on any warehouse: `replace` loads each step's source into `schemas`."""
    segments, core = schemas
    sync = SyncConfig(
        name=sync_name,
        source=f"{segments}.seg_audience",
        erasure_relation=f"{core}.customers",
        mode=mode,
        fields={"email": "email", "country": "country"},
        max_rejection_attempts=10,
        # Random steps replace most of the audience at will; the mass-change guard would
        # (rightly) hold those back. Its own tests are in test_reverse_etl_mass_change.py.
        mass_change=MassChangeConfig(enabled=False),
    )
    destination = FlakyAudience(max_batch_size=batch_size)
    erased: set[str] = set()
    for step in steps:
        erased |= step["erased"]
        _apply(replace, schemas, step, erased)
        destination.fail_after_batches = step["fail_after_batches"]
        destination.reject_once = set(step["reject_once"])
        destination.batches = 0
        # A failure stops the run; what was acknowledged before it is committed.
        with contextlib.suppress(ConnectionError):
            run_sync(sync, warehouse, destination)
        destination.fail_after_batches = None
        # One clean run finishes the interrupted work; a second retries the rejections.
        run_sync(sync, warehouse, destination)
        run_sync(sync, warehouse, destination)

        assert destination.members == _desired(step, erased)
        assert not destination.ever_sent & HOLDOUT
        last_by_key: dict[str, tuple] = {}
        for entry in destination.acknowledged:
            assert last_by_key.get(entry[1]) != entry, f"{entry} acknowledged twice"
            last_by_key[entry[1]] = entry
        # Nothing is left to send once converged.
        quiet = run_sync(sync, warehouse, destination)
        assert (quiet.added, quiet.changed, quiet.removed, quiet.failed) == (0, 0, 0, 0)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=steps, batch_size=st.sampled_from([1, 3, 7, 25]), mode=st.sampled_from(["mirror"]))
def test_random_changes_and_failures_always_converge(warehouse, steps, batch_size, mode):
    warehouse.execute("drop schema if exists reverse_etl cascade")
    check_convergence(warehouse, duckdb_replacer(warehouse), steps, batch_size, mode)
