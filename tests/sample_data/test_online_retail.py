"""UCI Online Retail (real, public data) built end to end and checked against the raw file.

The expected numbers come from DuckDB queries straight over the raw gz file with the data set
README's filter (a CustomerID, Quantity > 0, UnitPrice > 0), never from the landing files, and
are also checked against the figures the README publishes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from cdp import PROJECT_ROOT
from sample_data.datasets.online_retail import write_online_retail_landing
from tests.conftest import build_warehouse, query

pytestmark = pytest.mark.slow

SOURCE = PROJECT_ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"
AS_OF = "2011-12-10"

# Published in the data set's README.md.
README_LINES = 397_884
README_CUSTOMERS = 4_338
README_INVOICES = 18_532
README_REVENUE = Decimal("8911407.90")
README_CUSTOMER_IDS = 4_372  # distinct CustomerIDs in the whole file, purchasers or not


@dataclass(frozen=True)
class Built:
    duckdb_path: Path
    landed: dict[str, int]


@pytest.fixture(scope="module")
def source() -> Path:
    if not SOURCE.is_file():
        pytest.skip(f"the UCI Online Retail file is not available at {SOURCE}")
    return SOURCE


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Built:
    folder = tmp_path_factory.mktemp("online_retail")
    landed = write_online_retail_landing(source, folder / "landing")
    duckdb_path = folder / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", AS_OF)
        build_warehouse(folder / "landing", duckdb_path)
    return Built(duckdb_path, landed)


def _raw_sql(source: Path) -> str:
    """The README's purchases, straight from the raw file: one row per kept invoice line."""
    path = str(source).replace("'", "''")
    return f"""
        with raw as (
            select * from read_csv('{path}', all_varchar = true, header = true)
        )
        select
            InvoiceNo as invoice_no,
            cast(cast(CustomerID as decimal(18, 1)) as bigint) as customer_id,
            cast(Quantity as bigint) * cast(UnitPrice as decimal(18, 4)) as line_total,
            cast(InvoiceDate as timestamp) as invoiced_at
        from raw
        where
            CustomerID is not null
            and cast(Quantity as bigint) > 0
            and cast(UnitPrice as decimal(18, 4)) > 0
    """


@dataclass(frozen=True)
class Expected:
    lines: int
    customers: int
    invoices: int
    revenue: Decimal  # sum of Quantity x UnitPrice, unrounded
    invoice_revenue: Decimal  # sum of the invoices' totals, each rounded to pence
    per_customer: pd.DataFrame  # indexed by shop customer id (text)


@pytest.fixture(scope="module")
def expected(source: Path) -> Expected:
    with duckdb.connect() as connection:
        connection.execute(f"create table kept as {_raw_sql(source)}")
        [(lines, customers, invoices, revenue)] = connection.execute(
            """
            select count(*), count(distinct customer_id), count(distinct invoice_no),
                sum(line_total)
            from kept
            """
        ).fetchall()
        rows = connection.execute(
            """
            with invoices as (
                select
                    invoice_no,
                    customer_id,
                    round(sum(line_total), 2) as invoice_total,
                    sum(line_total) as invoice_total_exact,
                    min(invoiced_at) as invoiced_at
                from kept
                group by invoice_no, customer_id
            )
            select
                cast(customer_id as varchar),
                count(*),
                sum(invoice_total),
                sum(invoice_total_exact),
                max(invoiced_at)
            from invoices
            group by customer_id
            """
        ).fetchall()
    per_customer = pd.DataFrame(
        rows,
        columns=["shop_customer_id", "orders_count", "revenue", "revenue_exact", "last_at"],
    ).set_index("shop_customer_id")
    as_of_day = datetime.fromisoformat(AS_OF).date()
    per_customer["days_since_last_order"] = [
        (as_of_day - last_at.date()).days for last_at in per_customer["last_at"]
    ]
    return Expected(
        lines=lines,
        customers=customers,
        invoices=invoices,
        revenue=revenue,
        invoice_revenue=sum(per_customer["revenue"], Decimal(0)),
        per_customer=per_customer,
    )


@pytest.fixture(scope="module")
def traits(built: Built) -> pd.DataFrame:
    """Purchasing customers' traits, keyed by the shop customer id they were built from."""
    rows = query(
        built.duckdb_path,
        """
        select
            identifiers.identifier_value,
            traits.customer_id,
            traits.orders_count,
            traits.lifetime_revenue,
            traits.days_since_last_order,
            traits.recency_score,
            traits.frequency_score,
            traits.monetary_score,
            traits.rfm_segment
        from core.customer_traits as traits
        inner join core.customer_identifiers as identifiers
            on
                traits.customer_id = identifiers.customer_id
                and identifiers.identifier_type = 'shop_customer_id'
        where traits.orders_count > 0
        """,
    )
    frame = pd.DataFrame(
        rows,
        columns=[
            "shop_customer_id", "customer_id", "orders_count", "lifetime_revenue",
            "days_since_last_order", "recency_score", "frequency_score", "monetary_score",
            "rfm_segment",
        ],
    )  # fmt: skip
    # Shop accounts carry nothing that links them, so resolution must keep them one to one.
    assert frame["shop_customer_id"].is_unique
    assert frame["customer_id"].is_unique
    return frame.set_index("shop_customer_id")


def test_the_raw_file_matches_the_readme(expected: Expected) -> None:
    assert expected.lines == README_LINES
    assert expected.customers == README_CUSTOMERS
    assert expected.invoices == README_INVOICES
    # Four lines are priced 0.001, so the exact sum is 8,911,407.904; in pence it is the README's.
    assert round(expected.revenue, 2) == README_REVENUE
    assert expected.invoice_revenue == README_REVENUE


def test_the_landing_files_hold_every_purchase(built: Built, expected: Expected) -> None:
    assert built.landed["shop/orders"] == expected.invoices
    assert built.landed["shop/order_items"] == expected.lines
    assert built.landed["shop/customers"] == README_CUSTOMER_IDS
    others = {table: rows for table, rows in built.landed.items() if not table.startswith("shop/")}
    assert set(others.values()) == {0}


def test_totals_match_the_raw_file(built: Built, expected: Expected) -> None:
    [(as_of, customers, purchasers, orders, revenue)] = query(
        built.duckdb_path,
        """
        select
            min(as_of),
            count(*),
            count(case when orders_count > 0 then 1 end),
            sum(orders_count),
            sum(lifetime_revenue)
        from core.customer_traits
        """,
    )
    print(f"customers={customers} purchasers={purchasers} orders={orders} revenue={revenue}")
    assert as_of == datetime.fromisoformat(AS_OF)
    assert customers == README_CUSTOMER_IDS
    assert purchasers == expected.customers == README_CUSTOMERS
    assert orders == expected.invoices == README_INVOICES
    assert revenue == expected.invoice_revenue == README_REVENUE


def test_every_customer_matches_the_raw_file(traits: pd.DataFrame, expected: Expected) -> None:
    want = expected.per_customer
    assert set(traits.index) == set(want.index)
    joined = traits.join(want.add_suffix("_raw"), how="inner")
    assert len(joined) == expected.customers
    mismatched = joined[
        (joined["orders_count"] != joined["orders_count_raw"])
        | (joined["lifetime_revenue"] != joined["revenue_raw"])
        | (joined["days_since_last_order"] != joined["days_since_last_order_raw"])
    ]
    assert mismatched.empty, mismatched.head()
    # Order totals are rounded to pence, never by more than half a penny per order.
    drift = (joined["lifetime_revenue"] - joined["revenue_exact_raw"]).abs()
    assert (drift <= joined["orders_count"].map(lambda n: Decimal("0.005") * n)).all()
    print(f"customers whose revenue lost fractions of a penny: {(drift > 0).sum()}")


def _scores(values: pd.Series, *, ascending: bool) -> pd.Series:
    """least(5, 1 + floor(5 * percent_rank)); equal values share the lowest rank."""
    ranks = values.rank(method="min", ascending=ascending)
    percent_rank = (ranks - 1) / (len(values) - 1)
    return np.minimum(5, 1 + np.floor(percent_rank * 5)).astype(int)


def test_rfm_scores_follow_the_documented_rule(traits: pd.DataFrame, expected: Expected) -> None:
    for column in ("recency_score", "frequency_score", "monetary_score"):
        assert traits[column].notna().all(), column
        assert traits[column].between(1, 5).all(), column
    assert traits["rfm_segment"].notna().all()

    want = expected.per_customer.loc[traits.index]
    pence = (want["revenue"] * 100).map(int)
    expected_scores = pd.DataFrame(
        {
            "recency_score": _scores(want["days_since_last_order"], ascending=False),
            "frequency_score": _scores(want["orders_count"], ascending=True),
            "monetary_score": _scores(pence, ascending=True),
        }
    )
    for column in expected_scores:
        differs = traits[column] != expected_scores[column]
        assert not differs.any(), (column, traits[differs].head())


def test_rfm_scores_are_ordered_like_the_metrics(traits: pd.DataFrame) -> None:
    metric_of = {
        "recency_score": "days_since_last_order",
        "frequency_score": "orders_count",
        "monetary_score": "lifetime_revenue",
    }
    for score, metric in metric_of.items():
        ranges = traits.groupby(score)[metric].agg(["min", "max"]).sort_index()
        print(score, ranges.to_dict("index"))
        for lower, higher in zip(ranges.index, ranges.index[1:], strict=False):
            # Equal values share a score, so the score bands never overlap.
            if score == "recency_score":
                assert ranges.loc[higher, "max"] < ranges.loc[lower, "min"], (score, lower)
            else:
                assert ranges.loc[higher, "min"] > ranges.loc[lower, "max"], (score, lower)
