"""Incremental staging: after a drop, the hourly run gives exactly what a full refresh gives.

One warehouse is built on the sample, copied, and then both copies see the same drop: the
generator's drop 1 plus hand-written rows that arrive in later files (re-deliveries, a newer
and a stale version of old orders, and a deletion request for a person staged long before).
One copy runs the hourly selection incrementally, the other the same selection with
`--full-refresh`; every table the hourly job builds must come out identical.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from cdp import PROJECT_ROOT
from cdp.generator import generate_drop
from cdp.landing import write_csv_landing
from cdp.pipeline import Settings, run_dbt
from tests.conftest import build_warehouse, query

pytestmark = pytest.mark.slow

# The committed sample (make seeds) and the drop the generator writes for it.
SAMPLE_PEOPLE, SAMPLE_SEED = 2000, 7
AS_OF = "2025-07-03"
# A second scenario: the initial build and the hourly run on the same day, 23 hours apart.
# The sample's last events are late on 2025-07-01, so events pass the `<= as_of` cut between
# the two runs and rows cross the 7/30/90/365-day windows, also for customers with no new data.
EARLIER_AS_OF, LATER_AS_OF = "2025-07-01 00:30:00", "2025-07-01 23:30:00"

# Set by the run itself (the time an id was assigned), so two runs never agree on them.
RUN_TIME_COLUMNS = {"customer_id_assigned_at", "merged_at", "changed_at", "run_started_at"}

INCREMENTAL_MODELS = [
    "staging.stg_events__tracks",
    "staging.stg_events__identifies",
    "staging.stg_email__events",
    "staging.stg_shop__orders",
    "staging.stg_shop__order_items",
]


@dataclass(frozen=True)
class Drop:
    incremental: Path
    full_refresh: Path
    erased_email: str
    redelivered_message_id: str
    refunded_order_id: str
    stale_order_id: str


def hourly_build(raw_dir: Path, duckdb_path: Path, *, full_refresh: bool = False) -> None:
    """The hourly job's dbt selection, as orchestration/schedules.py defines it."""
    from orchestration.schedules import HOURLY_DBT_EXCLUDE, landing_dbt_select

    settings = Settings(
        raw_dir=raw_dir,
        duckdb_path=duckdb_path,
        dbt_target_path=duckdb_path.parent / f"{duckdb_path.stem}-dbt-target",
    )
    args = ["build", "--select", landing_dbt_select(), "--exclude", HOURLY_DBT_EXCLUDE]
    lines: list[str] = []
    outcome = run_dbt(args + (["--full-refresh"] if full_refresh else []), settings, lines.append)
    if not outcome.success:
        pytest.fail("dbt build failed:\n" + "\n".join(lines[-40:] + outcome.failures))


def raw_rows(raw_dir: Path, table: str, key_column: str) -> dict[str, list[dict[str, str]]]:
    """The initial load's rows of a landing table, by their (trimmed) key."""
    rows: dict[str, list[dict[str, str]]] = {}
    with (raw_dir / table / "part-00000.csv").open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault((row[key_column] or "").strip(), []).append(row)
    return rows


def staged_once(
    raw_dir: Path, duckdb_path: Path, table: str, key_column: str, sql: str, count: int
) -> list[dict[str, str]]:
    """Raw rows of `count` keys that landed exactly once and were staged (keys from `sql`)."""
    by_key = raw_rows(raw_dir, table, key_column)
    keys = [key for (key,) in query(duckdb_path, sql) if len(by_key.get(key, [])) == 1]
    assert len(keys) >= count, table
    return [by_key[key][0] for key in keys[:count]]


def old_person_to_erase(duckdb_path: Path) -> str:
    """An email of a person with orders, email events and tracks, none erased yet."""
    [(email,)] = query(
        duckdb_path,
        """
        select min(identifiers.identifier_value)
        from core.customer_identifiers as identifiers
        inner join core.customers as customers using (customer_id)
        where
            identifiers.identifier_type = 'email'
            and not customers.is_erased
            and customers.customer_id in (
                select record_customers.customer_id
                from identity.int_identity__record_customers as record_customers
                where record_customers.record_source = 'shop/orders'
                intersect
                select record_customers.customer_id
                from identity.int_identity__record_customers as record_customers
                where record_customers.record_source = 'email/events'
                intersect
                select record_customers.customer_id
                from identity.int_identity__record_customers as record_customers
                inner join staging.stg_events__tracks as tracks
                    on record_customers.record_key = tracks.message_id
                where
                    record_customers.record_source = 'events/tracks'
                    and tracks.properties is not null
            )
        """,
    )
    assert email is not None
    return email


def write_late_rows(raw_dir: Path, duckdb_path: Path, erased_email: str) -> dict[str, str]:
    """Rows whose earlier versions or copies landed in the initial files."""
    [track] = staged_once(
        raw_dir,
        duckdb_path,
        "events/tracks",
        "message_id",
        "select message_id from staging.stg_events__tracks where not is_erased order by 1",
        1,
    )
    [email_event] = staged_once(
        raw_dir,
        duckdb_path,
        "email/events",
        "event_id",
        "select email_event_id from staging.stg_email__events order by 1",
        1,
    )
    refunded, stale, repeated = staged_once(
        raw_dir,
        duckdb_path,
        "shop/orders",
        "order_id",
        """
        select order_id from staging.stg_shop__orders
        where status = 'paid' and not has_invalid_updated_at and not is_erased
        order by 1
        """,
        3,
    )
    [item] = staged_once(
        raw_dir,
        duckdb_path,
        "shop/order_items",
        "order_id",
        "select order_id from staging.stg_shop__order_items where line_number = 1 order by 1",
        1,
    )
    # Names sort after "part-": the copy in this file wins the tie on file name.
    write_csv_landing(
        raw_dir,
        {
            "events/tracks": [track],
            "shop/order_items": [item],
            "shop/orders": [
                {**refunded, "status": "refunded", "refunded_amount": refunded["total"],
                 "updated_at": "2025-07-01T09:00:00Z"},
                {**stale, "status": "cancelled", "updated_at": "2001-01-01T00:00:00Z"},
                repeated,
            ],
            "privacy/deletion_requests": [
                {"request_id": "erase-late-1", "identifier_type": "email",
                 "identifier_value": erased_email.upper(), "requested_at": "2025-07-01T10:00:00Z"}
            ],
        },
        file_name="redelivery-0001.csv",
    )  # fmt: skip
    # Sorts before "part-": the copy already staged keeps winning.
    write_csv_landing(raw_dir, {"email/events": [email_event]}, file_name="drop-0001-late.csv")
    return {
        "redelivered_message_id": track["message_id"].strip(),
        "refunded_order_id": refunded["order_id"].strip(),
        "stale_order_id": stale["order_id"].strip(),
    }


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drop]:
    work = tmp_path_factory.mktemp("incremental")
    raw_dir = work / "landing"
    shutil.copytree(PROJECT_ROOT / "seeds", raw_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", AS_OF)
        incremental = work / "incremental.duckdb"
        build_warehouse(raw_dir, incremental)
        full_refresh = work / "full_refresh.duckdb"
        with duckdb.connect(str(incremental)) as connection:
            connection.execute("checkpoint")
        shutil.copyfile(incremental, full_refresh)

        erased_email = old_person_to_erase(incremental)
        generate_drop(
            people=SAMPLE_PEOPLE,
            seed=SAMPLE_SEED,
            out=raw_dir,
            fmt="csv",
            truth_dir=work / "truth",
            drop=1,
        )
        keys = write_late_rows(raw_dir, incremental, erased_email)

        hourly_build(raw_dir, incremental)
        hourly_build(raw_dir, full_refresh, full_refresh=True)
        yield Drop(incremental, full_refresh, erased_email, **keys)


@dataclass(frozen=True)
class LaterAsOf:
    incremental: Path
    full_refresh: Path
    earlier_traits: dict[str, tuple]


WINDOWED_TRAITS = (
    "orders_last_90_days, revenue_last_365_days, sessions_7d, product_views_30d, tickets_90d,"
    " last_seen_on_site_at, last_order_at, orders_count"
)


@pytest.fixture(scope="module")
def later_as_of(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaterAsOf]:
    """Built at EARLIER_AS_OF; the drop lands; the hourly run computes at LATER_AS_OF."""
    work = tmp_path_factory.mktemp("later-as-of")
    raw_dir = work / "landing"
    shutil.copytree(PROJECT_ROOT / "seeds", raw_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_AS_OF", EARLIER_AS_OF)
        incremental = work / "incremental.duckdb"
        build_warehouse(raw_dir, incremental)
        full_refresh = work / "full_refresh.duckdb"
        with duckdb.connect(str(incremental)) as connection:
            connection.execute("checkpoint")
        shutil.copyfile(incremental, full_refresh)
        earlier_traits = {
            customer_id: rest
            for customer_id, *rest in query(
                incremental, f"select customer_id, {WINDOWED_TRAITS} from core.customer_traits"
            )
        }
        generate_drop(
            people=SAMPLE_PEOPLE,
            seed=SAMPLE_SEED,
            out=raw_dir,
            fmt="csv",
            truth_dir=work / "truth",
            drop=1,
        )
        patch.setenv("CDP_AS_OF", LATER_AS_OF)
        hourly_build(raw_dir, incremental)
        hourly_build(raw_dir, full_refresh, full_refresh=True)
        yield LaterAsOf(incremental, full_refresh, earlier_traits)


def table_rows(duckdb_path: Path) -> dict[str, Counter[str]]:
    """Every row of every table the hourly job builds, as a multiset (run-time columns left out).

    Read through one connection per file: dbt keeps its own handle on the warehouse open in
    this process, so the two files cannot be attached side by side.
    """
    with duckdb.connect(str(duckdb_path)) as connection:
        tables = connection.execute(
            """
            select schema_name, table_name from duckdb_tables()
            where schema_name in ('staging', 'audit', 'identity', 'privacy', 'core', 'segments')
            order by 1, 2
            """
        ).fetchall()
        result = {}
        for schema, table in tables:
            # Sums of doubles differ in the last bits with the order rows are added in.
            selected = ", ".join(
                f'round("{name}", 9)' if data_type in ("DOUBLE", "FLOAT") else f'"{name}"'
                for name, data_type in connection.execute(
                    """
                    select column_name, data_type from duckdb_columns()
                    where schema_name = ? and table_name = ? order by column_index
                    """,
                    [schema, table],
                ).fetchall()
                if name not in RUN_TIME_COLUMNS
            )
            rows = connection.execute(f"select {selected} from {schema}.{table}").fetchall()
            result[f"{schema}.{table}"] = Counter(map(repr, rows))
    return result


def test_the_hourly_run_reads_only_new_files(drop: Drop) -> None:
    target = drop.incremental.parent / "incremental-dbt-target" / "compiled" / "cdp" / "models"
    for model in INCREMENTAL_MODELS:
        name = model.split(".")[1]
        [compiled] = target.glob(f"staging/*/{name}.sql")
        assert "_landed_file not in (" in compiled.read_text(), name


def assert_identical_tables(incremental_path: Path, full_refresh_path: Path) -> None:
    incremental, full_refresh = table_rows(incremental_path), table_rows(full_refresh_path)
    assert len(incremental) > 30 and incremental.keys() == full_refresh.keys()
    differences = {
        table: (
            sum((rows - full_refresh[table]).values()),
            sum((full_refresh[table] - rows).values()),
        )
        for table, rows in incremental.items()
        if rows != full_refresh[table]
    }
    assert differences == {}


def test_incremental_and_full_refresh_build_identical_tables(drop: Drop) -> None:
    assert_identical_tables(drop.incremental, drop.full_refresh)


def test_a_later_as_of_on_the_same_day_gives_what_a_full_refresh_gives(
    later_as_of: LaterAsOf,
) -> None:
    assert_identical_tables(later_as_of.incremental, later_as_of.full_refresh)


def test_the_later_as_of_moves_traits_of_customers_the_drop_did_not_touch(
    later_as_of: LaterAsOf,
) -> None:
    """The scenario above is only a test of the time logic if time alone changes some traits."""
    untouched = {
        customer_id
        for (customer_id,) in query(
            later_as_of.full_refresh,
            """
            select customer_id from core.customers
            except
            select record_customers.customer_id
            from identity.int_identity__record_customers as record_customers
            inner join audit.int_landing__row_dispositions as dispositions
                on
                    record_customers.record_source = dispositions.landing_table
                    and record_customers.record_key = dispositions.record_key
            where dispositions.landed_file not like '%/part-%'
            """,
        )
    }
    later = {
        customer_id: rest
        for customer_id, *rest in query(
            later_as_of.full_refresh,
            f"select customer_id, {WINDOWED_TRAITS} from core.customer_traits",
        )
    }
    moved = [
        customer_id
        for customer_id in untouched
        if customer_id in later_as_of.earlier_traits
        and later[customer_id] != later_as_of.earlier_traits[customer_id]
    ]
    assert len(moved) >= 3


def test_rows_from_later_files_supersede_and_duplicate_across_files(drop: Drop) -> None:
    db = drop.incremental
    [(landed_file,)] = query(
        db,
        f"select landed_file from staging.stg_events__tracks "
        f"where message_id = '{drop.redelivered_message_id}'",
    )
    assert landed_file.endswith("redelivery-0001.csv")
    [(status,)] = query(
        db,
        f"select status from staging.stg_shop__orders where order_id = '{drop.refunded_order_id}'",
    )
    assert status == "refunded"
    [(status,)] = query(
        db, f"select status from staging.stg_shop__orders where order_id = '{drop.stale_order_id}'"
    )
    assert status == "paid"
    [(duplicates, superseded)] = query(
        db,
        """
        select
            sum(duplicate_delivery_rows) filter (where landing_table in ('events/tracks',
                'email/events', 'shop/order_items', 'shop/orders')),
            sum(superseded_rows) filter (where landing_table = 'shop/orders')
        from audit.landing_audit
        """,
    )
    assert duplicates >= 4 and superseded >= 2


def test_a_late_deletion_request_masks_rows_staged_before_it(drop: Drop) -> None:
    db = drop.incremental
    [(customer_id, is_erased, email)] = query(
        db,
        f"""
        select customer_id, is_erased, email from core.customers
        where customer_id in (
            select customer_id from privacy.int_privacy__erased_customers
        ) and customer_id in (
            select registry.customer_id
            from identity.int_identity__customer_id_registry as registry
            where registry.identifier_key = md5('email:{drop.erased_email}')
        )
        """,
    )
    assert is_erased and email is None
    for model, record_source, key, personal in [
        ("stg_events__tracks", "events/tracks", "message_id", "properties"),
        ("stg_email__events", "email/events", "email_event_id", "email"),
        ("stg_shop__orders", "shop/orders", "order_id", "email"),
    ]:
        [(records, masked)] = query(
            db,
            f"""
            select count(*), count(case when staged.is_erased and staged.{personal} is null
                then 1 end)
            from identity.int_identity__record_customers as record_customers
            inner join staging.{model} as staged
                on record_customers.record_key = staged.{key}
            where
                record_customers.customer_id = '{customer_id}'
                and record_customers.record_source = '{record_source}'
            """,
        )
        assert records > 0 and masked == records, model
    [(leaks,)] = query(
        db,
        f"""
        select count(*) from (
            select email from staging.stg_email__events
            union all select email from staging.stg_shop__orders
            union all select email from staging.stg_events__identifies
        ) where email = '{drop.erased_email}'
        """,
    )
    assert leaks == 0
