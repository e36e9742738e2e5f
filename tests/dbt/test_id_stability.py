"""customer_id stability: across a new drop, a --full-refresh and a rebuild from nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp.evaluation import pairwise_score
from cdp.landing import write_csv_landing
from sample_data.generator import generate_drop, generate_landing
from tests.conftest import build_warehouse, query

pytestmark = pytest.mark.slow

PEOPLE, SEED = 600, 11

IDENTIFIER_MAP = """
    select identifier_key, customer_id
    from identity.int_identity__identifier_customers
"""


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw_dir = tmp_path_factory.mktemp("landing")
    generate_landing(people=PEOPLE, seed=SEED, out=raw_dir, fmt="csv", truth_dir=raw_dir / "_truth")
    return raw_dir


def test_a_new_drop_keeps_every_customer_id_that_did_not_merge(
    landing: Path, tmp_path: Path
) -> None:
    raw_dir = tmp_path / "landing"
    raw_dir.mkdir()
    generate_landing(people=PEOPLE, seed=SEED, out=raw_dir, fmt="csv", truth_dir=tmp_path / "t")
    db = tmp_path / "warehouse.duckdb"
    build_warehouse(raw_dir, db)
    before = dict(query(db, IDENTIFIER_MAP))
    customers_before = {row[0] for row in query(db, "select customer_id from core.customers")}

    generate_drop(
        people=PEOPLE, seed=SEED, out=raw_dir, fmt="csv", truth_dir=tmp_path / "t", drop=1
    )
    build_warehouse(raw_dir, db)
    after = dict(query(db, IDENTIFIER_MAP))
    customers_after = {row[0] for row in query(db, "select customer_id from core.customers")}
    merges = dict(
        query(db, "select retired_customer_id, surviving_customer_id from core.customer_id_merges")
    )

    assert len(after) > len(before), "the drop brings new identifiers"
    moved = {key: (old, after[key]) for key, old in before.items() if after.get(key) != old}
    for old, new in moved.values():
        # An identifier only changes customer when its old profile merged into the new one.
        assert merges.get(old) == new
    retired = set(merges)
    assert customers_before - retired <= customers_after
    assert not retired & customers_after
    score = pairwise_score(db, sorted((tmp_path / "t").glob("*.csv")))
    assert score.precision >= 0.99 and score.recall >= 0.99


def test_full_refresh_and_a_rebuild_from_nothing_keep_every_id(
    landing: Path, tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.duckdb"
    build_warehouse(landing, db)
    first = dict(query(db, IDENTIFIER_MAP))

    build_warehouse(landing, db, full_refresh=True)
    assert dict(query(db, IDENTIFIER_MAP)) == first

    fresh = tmp_path / "fresh.duckdb"
    build_warehouse(landing, fresh)
    assert dict(query(fresh, IDENTIFIER_MAP)) == first


def test_a_merge_keeps_the_older_id_and_records_the_retired_one(
    landing: Path, tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.duckdb"
    build_warehouse(landing, db)
    before = dict(query(db, IDENTIFIER_MAP))
    # Two different people, one seen before the other, each with an anonymous id and an email.
    (older, older_anonymous_id), (newer, newer_email) = query(
        db,
        """
        with candidates as (
            select
                customers.customer_id,
                customers.first_seen_at,
                min(case when identifiers.identifier_type = 'anonymous_id'
                    then identifiers.identifier_value end) as anonymous_id,
                min(case when identifiers.identifier_type = 'email'
                    then identifiers.identifier_value end) as email
            from core.customers as customers
            inner join core.customer_identifiers as identifiers using (customer_id)
            group by 1, 2
            having anonymous_id is not null and email is not null
        )
        select * from (
            (select customer_id, anonymous_id from candidates order by first_seen_at limit 1)
            union all
            (select customer_id, email from candidates order by first_seen_at desc limit 1)
        )
        """,
    )
    # The newer person logs in on the older person's browser: the same person after all.
    write_csv_landing(
        landing,
        {
            "events/identifies": [
                {
                    "message_id": "merge-test-1",
                    "anonymous_id": older_anonymous_id,
                    "email": newer_email,
                    "timestamp": "2025-07-02T00:00:00Z",
                }
            ]
        },
        file_name="drop-9999-part-00000.csv",
    )
    try:
        build_warehouse(landing, db)
    finally:
        for path in landing.glob("*/*/drop-9999-part-00000.csv"):
            path.unlink()
    after = dict(query(db, IDENTIFIER_MAP))

    assert query(
        db, "select retired_customer_id, surviving_customer_id from core.customer_id_merges"
    ) == [(newer, older)]
    for key, customer_id in before.items():
        expected = older if customer_id in (older, newer) else customer_id
        assert after[key] == expected
    [(remaining,)] = query(db, f"select count(*) from core.customers where customer_id = '{newer}'")
    assert remaining == 0
