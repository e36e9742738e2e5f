"""The committed sample, built end to end and scored against the generator's truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdp import DEFAULT_RAW_DIR
from cdp.evaluation import pairwise_score
from cdp.landing import LANDING_TABLES
from cdp.pipeline import Settings, summarize
from tests.conftest import query

pytestmark = pytest.mark.slow


def test_identity_resolution_matches_the_truth(sample_warehouse: Path) -> None:
    score = pairwise_score(sample_warehouse, [DEFAULT_RAW_DIR / "_truth" / "truth.csv"])
    print(f"records={score.records} precision={score.precision:.5f} recall={score.recall:.5f}")
    assert score.records > 10_000
    assert score.precision >= 0.99
    assert score.recall >= 0.99


def test_every_landing_table_is_staged_and_accounted_for(sample_warehouse: Path) -> None:
    audit = {
        row[0]: row[1:]
        for row in query(
            sample_warehouse,
            """
            select landing_table, landed_rows, staged_rows, superseded_rows,
                duplicate_delivery_rows, quarantined_rows
            from audit.landing_audit
            """,
        )
    }
    assert set(audit) == set(LANDING_TABLES)
    for table, (landed, staged, superseded, duplicates, quarantined) in audit.items():
        assert landed == staged + superseded + duplicates + quarantined, table
        assert staged > 0, table
    # The sample is messy on purpose: every kind of disposition occurs.
    assert sum(row[2] for row in audit.values()) > 0
    assert sum(row[3] for row in audit.values()) > 0
    assert sum(row[4] for row in audit.values()) > 0


def test_messy_values_are_flagged_not_lost(sample_warehouse: Path) -> None:
    [(invalid_emails, invalid_phones, mixed_case)] = query(
        sample_warehouse,
        """
        select
            count(case when has_invalid_email then 1 end),
            count(case when has_invalid_phone then 1 end),
            count(case when email <> lower(trim(email)) then 1 end)
        from staging.stg_crm__contacts
        """,
    )
    assert invalid_emails > 0
    assert invalid_phones > 0
    assert mixed_case == 0
    [(bad_phones,)] = query(
        sample_warehouse,
        "select count(*) from core.customers where phone is not null and phone not like '+%'",
    )
    assert bad_phones == 0
    reasons = dict(
        query(
            sample_warehouse,
            "select quarantine_reason, count(*) from audit.landing_quarantine group by 1",
        )
    )
    assert reasons, "the sample has unusable rows and each must carry a reason"


def test_the_summary_reads_from_the_warehouse(sample_warehouse: Path) -> None:
    lines = summarize(Settings(raw_dir=DEFAULT_RAW_DIR, duckdb_path=sample_warehouse))
    text = "\n".join(lines)
    for label in ("rows landed", "rows quarantined", "customers", "largest profile"):
        assert label in text


def test_the_samples_undated_deletion_request_erases_its_person(sample_warehouse: Path) -> None:
    """dsr_000003 has requested_at "not a date": it is still an erasure request."""
    [(requested_at,)] = query(
        sample_warehouse,
        "select requested_at from staging.stg_privacy__deletion_requests"
        " where deletion_request_id = 'dsr_000003'",
    )
    assert requested_at is None
    [(erased, email)] = query(
        sample_warehouse,
        """
        select customers.is_erased, customers.email
        from core.customers as customers
        inner join privacy.int_privacy__erased_customers as erased using (customer_id)
        inner join identity.int_identity__identifier_customers as identifiers using (customer_id)
        inner join staging.stg_privacy__deletion_requests as requests
            on requests.identifier_key = identifiers.identifier_key
        where requests.deletion_request_id = 'dsr_000003'
        """,
    )
    assert erased is True and email is None
    # The only request that cannot be applied (a truncated address) is listed, acknowledged.
    assert query(
        sample_warehouse,
        "select landing_table, record_key, is_acknowledged from privacy.privacy_unapplied_rows",
    ) == [("privacy/deletion_requests", "dsr_000004", True)]
