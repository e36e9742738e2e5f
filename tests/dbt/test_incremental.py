"""Incremental staging: after a drop, the hourly run gives exactly what a full refresh gives.

One warehouse is built on the sample, copied, and then both copies see the same drop: the
generator's drop 1 plus hand-written rows that arrive in later files (re-deliveries of events,
tickets, consent events and deletion requests, a newer and a stale version of old orders and CRM
contacts, and a deletion request for a person staged long before, whose newer contact version
and new consent event arrive in the same drop).
One copy runs the hourly selection incrementally, the other the same selection with
`--full-refresh`; every table the hourly job builds must come out identical.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from cdp import PROJECT_ROOT
from cdp.landing import write_csv_landing
from cdp.pipeline import Settings, run_dbt
from sample_data.generator import generate_drop
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
RUN_TIME_COLUMNS = {"customer_id_assigned_at", "merged_at"}
# Which run last wrote a row, and how many rounds the components took on that run.
RUN_TIME_COLUMNS |= {"changed_at", "linking_changed_at", "resolved_in_rounds", "run_started_at"}
# When the landing intake took a file in (audit.landing_files), and when an erasure was
# recorded (privacy.int_privacy__applied_erasures): the run's time too.
RUN_TIME_COLUMNS |= {"taken_in_at", "applied_at"}
# Rows an incremental run keeps as a memory of earlier runs, which a rebuild has no earlier
# run to remember: the customers a national-phone row matched before and matches no more.
CURRENT_ROWS = {"privacy.int_privacy__national_phone_matches": "is_current"}
# The log of the runs themselves, and the working set of the last run.
RUN_LOG_TABLES = {
    "audit.incremental_runs",
    "identity.int_identity__customer_changes",
    "identity.int_identity__record_changes",
    "core.int_customers__affected_records",
}

# Customer-level models that recompute only the customers the new data touched.
CUSTOMER_MODELS = [
    "int_customers__field_candidates",
    "int_customers__golden_fields",
    "int_customers__consent",
    "customer_identifiers",
    "customers",
]

INCREMENTAL_MODELS = [
    "staging.stg_events__tracks",
    "staging.stg_events__identifies",
    "staging.stg_email__events",
    "staging.stg_shop__orders",
    "staging.stg_shop__order_items",
    "staging.stg_crm__contacts",
    "staging.stg_shop__customers",
    "staging.stg_consent__events",
    "staging.stg_support__tickets",
    "staging.stg_privacy__deletion_requests",
]


@dataclass(frozen=True)
class Drop:
    incremental: Path
    full_refresh: Path
    interrupted: Path
    erased_email: str
    redelivered_message_id: str
    refunded_order_id: str
    readdressed_order_id: str
    stale_order_id: str
    newer_contact_id: str
    stale_contact_id: str
    erased_contact_id: str
    redelivered_ticket_id: str
    late_ticket_id: str
    late_line_order_id: str
    redelivered_consent_event_id: str
    redelivered_deletion_request_id: str
    late_consent_event_id: str
    late_deletion_request_id: str


def hourly_build(
    raw_dir: Path, duckdb_path: Path, *, full_refresh: bool = False, also_exclude: str = ""
) -> None:
    """The hourly job's dbt selection, as orchestration/schedules.py defines it."""
    from orchestration.schedules import HOURLY_DBT_EXCLUDE, landing_dbt_select

    settings = Settings(
        raw_dir=raw_dir,
        duckdb_path=duckdb_path,
        dbt_target_path=duckdb_path.parent / f"{duckdb_path.stem}-dbt-target",
    )
    exclude = f"{HOURLY_DBT_EXCLUDE} {also_exclude}".strip()
    args = ["build", "--select", landing_dbt_select(), "--exclude", exclude]
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
    """An email of a person with records in every staged table that carries personal data
    (orders, email events, tracks, CRM contacts, shop accounts, tickets, consent), none erased
    yet."""
    more_sources = "".join(
        f"""
                intersect
                select record_customers.customer_id
                from identity.int_identity__record_customers as record_customers
                where record_customers.record_source = '{source}'"""
        for source in ("crm/contacts", "shop/customers", "support/tickets", "consent/events")
    )
    [(email,)] = query(
        duckdb_path,
        f"""
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
                {more_sources}
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
    # An order whose email reaches its customer (from the other end of the list).
    [readdressed] = staged_once(
        raw_dir,
        duckdb_path,
        "shop/orders",
        "order_id",
        """
        select orders.order_id from staging.stg_shop__orders as orders
        inner join core.customer_identifiers as identifiers
            on identifiers.identifier_type = 'email' and orders.email = identifiers.identifier_value
        where not orders.has_invalid_updated_at and not orders.is_erased
        order by 1 desc
        """,
        1,
    )
    new_email = f"New.Address.{readdressed['order_id'].strip()}@Example.com"
    [item] = staged_once(
        raw_dir,
        duckdb_path,
        "shop/order_items",
        "order_id",
        "select order_id from staging.stg_shop__order_items where line_number = 1 order by 1",
        1,
    )
    # A late line of an old order, in a category the customer never bought, worth more than
    # all their other purchases: the customer's top category must change with it.
    [(late_line_order_id,)] = query(
        duckdb_path,
        """
        select orders.order_id from staging.stg_shop__orders as orders
        where orders.status = 'paid' and not orders.is_erased
            and orders.order_id not in (select order_id from staging.stg_shop__order_items
                                        where line_number > 1)
        order by 1 limit 1 offset 100  -- clear of the orders the other late rows change
        """,
    )
    late_line = {
        "order_id": late_line_order_id, "line_number": "7", "sku": "GRD-0001",
        "product_name": "Greenhouse", "category": "Garden", "quantity": "40",
        "unit_price": "999.00",
    }  # fmt: skip
    # The person erased in this drop: a newer version of their contact lands with the request.
    [(erased_contact_id,)] = query(
        duckdb_path,
        f"""
        select min(contacts.record_key)
        from identity.int_identity__record_customers as contacts
        where contacts.record_source = 'crm/contacts' and contacts.customer_id = (
            select identifiers.customer_id from core.customer_identifiers as identifiers
            where identifiers.identifier_type = 'email'
                and identifiers.identifier_value = '{erased_email}'
        )
        """,
    )
    erased_contact = max(
        raw_rows(raw_dir, "crm/contacts", "contact_id")[erased_contact_id],
        key=lambda row: row["updated_at"],
    )
    newer_contact, stale_contact = staged_once(
        raw_dir,
        duckdb_path,
        "crm/contacts",
        "contact_id",
        f"""
        select contact_id from staging.stg_crm__contacts
        where
            not is_erased and not has_invalid_updated_at and not has_invalid_created_at
            and contact_id <> '{erased_contact_id}'
        order by 1
        """,
        2,
    )
    redelivered_ticket, late_ticket = staged_once(
        raw_dir,
        duckdb_path,
        "support/tickets",
        "ticket_id",
        "select ticket_id from staging.stg_support__tickets where not is_erased order by 1",
        2,
    )
    [consent_event] = staged_once(
        raw_dir,
        duckdb_path,
        "consent/events",
        "consent_event_id",
        "select consent_event_id from staging.stg_consent__events where not is_erased order by 1",
        1,
    )
    # An event of a person erased before: the staged, masked copy keeps winning, with its key.
    [erased_consent_event] = staged_once(
        raw_dir,
        duckdb_path,
        "consent/events",
        "consent_event_id",
        "select consent_event_id from staging.stg_consent__events where is_erased order by 1",
        1,
    )
    deletion_request, late_deletion_request = staged_once(
        raw_dir,
        duckdb_path,
        "privacy/deletion_requests",
        "request_id",
        "select deletion_request_id from staging.stg_privacy__deletion_requests order by 1",
        2,
    )
    # Names sort after "part-": the copy in this file wins the tie on file name.
    write_csv_landing(
        raw_dir,
        {
            "events/tracks": [track],
            "shop/order_items": [item, late_line],
            "shop/orders": [
                {**refunded, "status": "refunded", "refunded_amount": refunded["total"],
                 "updated_at": "2025-07-01T09:00:00Z"},
                {**stale, "status": "cancelled", "updated_at": "2001-01-01T00:00:00Z"},
                repeated,
                {**readdressed, "email": new_email, "updated_at": "2025-07-01T11:00:00Z"},
            ],
            "privacy/deletion_requests": [
                {"request_id": "erase-late-1", "identifier_type": "email",
                 "identifier_value": erased_email.upper(), "requested_at": "2025-07-01T10:00:00Z"},
                deletion_request,
            ],
            # Versions later than any of the generator's drop day, and one older than staged.
            "crm/contacts": [
                {**newer_contact, "job_title": "Chief Testing Officer",
                 "updated_at": "2025-07-02T00:00:00Z"},
                {**stale_contact, "job_title": "Stale Title", "updated_at": "2001-01-01T00:00:00Z"},
                {**erased_contact, "city": "Late City", "updated_at": "2025-07-02T00:00:00Z"},
            ],
            "support/tickets": [redelivered_ticket],
            "consent/events": [
                consent_event,
                {"consent_event_id": "consent-late-1", "identifier_type": "email",
                 "identifier_value": erased_email, "purpose": "email_marketing",
                 "status": "granted", "recorded_at": "2025-07-01T08:00:00Z",
                 "source": "web_form"},
            ],
        },
        file_name="redelivery-0001.csv",
    )  # fmt: skip
    # Sorts before "part-": the copy already staged keeps winning.
    write_csv_landing(
        raw_dir,
        {
            "email/events": [email_event],
            "support/tickets": [late_ticket],
            "consent/events": [erased_consent_event],
            "privacy/deletion_requests": [late_deletion_request],
        },
        file_name="drop-0001-late.csv",
    )
    return {
        "redelivered_message_id": track["message_id"].strip(),
        "refunded_order_id": refunded["order_id"].strip(),
        "readdressed_order_id": readdressed["order_id"].strip(),
        "stale_order_id": stale["order_id"].strip(),
        "newer_contact_id": newer_contact["contact_id"].strip(),
        "stale_contact_id": stale_contact["contact_id"].strip(),
        "erased_contact_id": erased_contact_id,
        "redelivered_ticket_id": redelivered_ticket["ticket_id"].strip(),
        "late_ticket_id": late_ticket["ticket_id"].strip(),
        "late_line_order_id": late_line_order_id,
        "redelivered_consent_event_id": consent_event["consent_event_id"].strip(),
        "redelivered_deletion_request_id": deletion_request["request_id"].strip(),
        "late_consent_event_id": erased_consent_event["consent_event_id"].strip(),
        "late_deletion_request_id": late_deletion_request["request_id"].strip(),
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
        interrupted = work / "interrupted.duckdb"
        shutil.copyfile(incremental, interrupted)

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
        # A run that stops after the identifiers (as if the components had failed), then the
        # next hourly run: the models that did not run must still see the first run's changes.
        hourly_build(raw_dir, interrupted, also_exclude="int_identity__components+")
        hourly_build(raw_dir, interrupted)
        yield Drop(incremental, full_refresh, interrupted, erased_email, **keys)


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
            if f"{schema}.{table}" in RUN_LOG_TABLES:
                continue
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
            where = CURRENT_ROWS.get(f"{schema}.{table}", "true")
            rows = connection.execute(
                f"select {selected} from {schema}.{table} where {where}"
            ).fetchall()
            result[f"{schema}.{table}"] = Counter(map(repr, rows))
    return result


def test_the_hourly_run_reads_only_new_files(drop: Drop) -> None:
    target = drop.incremental.parent / "incremental-dbt-target" / "compiled" / "cdp" / "models"
    for model in INCREMENTAL_MODELS:
        name = model.split(".")[1]
        [compiled] = target.glob(f"staging/*/{name}.sql")
        assert "_landed_file not in (" in compiled.read_text(), name


def test_the_hourly_run_recomputes_only_what_the_new_data_touched(drop: Drop) -> None:
    """Past staging, the hourly run reads the changes made since each model's last run."""
    target = drop.incremental.parent / "incremental-dbt-target" / "compiled" / "cdp" / "models"
    compiled = {path.stem: path.read_text() for path in target.glob("*/*.sql")}
    assert "_landed_file not in (" in compiled["int_landing__row_dispositions"]
    for model in ["int_identity__observations", "int_identity__identifiers"]:
        assert "changed_at > cast(" in compiled[model], model
    assert "touched_nodes" in compiled["int_identity__components"]
    with duckdb.connect(str(drop.incremental), read_only=True) as connection:
        [(recomputed, total)] = connection.execute(
            "select count(distinct case when changed_at = (select max(changed_at)"
            " from identity.int_identity__components) then component_id end),"
            " count(distinct component_id) from identity.int_identity__components"
        ).fetchall()
    assert 0 < recomputed < total


def test_the_hourly_run_recomputes_only_the_affected_customers(drop: Drop) -> None:
    target = drop.incremental.parent / "incremental-dbt-target" / "compiled" / "cdp" / "models"
    for name in CUSTOMER_MODELS:
        [compiled] = target.glob(f"customers/{name}.sql")
        assert "customer_changes.changed_at > cast(" in compiled.read_text(), name


def differences(built: Path, reference: Path) -> dict[str, tuple[int, int]]:
    """Per table that differs: (rows only in `built`, rows only in `reference`)."""
    rows, expected = table_rows(built), table_rows(reference)
    assert len(rows) > 30 and rows.keys() == expected.keys()
    return {
        table: (
            sum((rows[table] - expected[table]).values()),
            sum((expected[table] - rows[table]).values()),
        )
        for table in rows
        if rows[table] != expected[table]
    }


def test_incremental_and_full_refresh_build_identical_tables(drop: Drop) -> None:
    assert differences(drop.incremental, drop.full_refresh) == {}


def test_a_run_after_an_interrupted_one_catches_up_with_everything(drop: Drop) -> None:
    assert differences(drop.interrupted, drop.full_refresh) == {}


def test_a_late_order_line_reaches_its_customers_traits(drop: Drop) -> None:
    [(top_category,)] = query(
        drop.incremental,
        f"""
        select traits.top_category
        from identity.int_identity__record_customers as orders
        inner join core.customer_traits as traits on orders.customer_id = traits.customer_id
        where orders.record_source = 'shop/orders'
            and orders.record_key = '{drop.late_line_order_id}'
        """,
    )
    assert top_category == "Garden"


def test_a_later_as_of_on_the_same_day_gives_what_a_full_refresh_gives(
    later_as_of: LaterAsOf,
) -> None:
    assert differences(later_as_of.incremental, later_as_of.full_refresh) == {}


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


def test_later_contact_versions_and_copies_of_tickets_consent_and_requests(drop: Drop) -> None:
    db = drop.incremental

    def staged(model: str, key_column: str, key: str, columns: str) -> tuple:
        [row] = query(db, f"select {columns} from staging.{model} where {key_column} = '{key}'")
        return row

    job_title, landed_file = staged(
        "stg_crm__contacts", "contact_id", drop.newer_contact_id, "job_title, landed_file"
    )
    assert job_title == "Chief Testing Officer" and landed_file.endswith("redelivery-0001.csv")
    job_title, updated_at = staged(
        "stg_crm__contacts", "contact_id", drop.stale_contact_id, "job_title, updated_at"
    )
    assert job_title != "Stale Title" and updated_at.year > 2001
    for model, key_column, key, file_name in [
        ("stg_support__tickets", "ticket_id", drop.redelivered_ticket_id, "redelivery-0001.csv"),
        ("stg_support__tickets", "ticket_id", drop.late_ticket_id, "part-00000.csv"),
        (
            "stg_consent__events",
            "consent_event_id",
            drop.redelivered_consent_event_id,
            "redelivery-0001.csv",
        ),
        (
            "stg_privacy__deletion_requests",
            "deletion_request_id",
            drop.redelivered_deletion_request_id,
            "redelivery-0001.csv",
        ),
        ("stg_consent__events", "consent_event_id", drop.late_consent_event_id, "part-00000.csv"),
        (
            "stg_privacy__deletion_requests",
            "deletion_request_id",
            drop.late_deletion_request_id,
            "part-00000.csv",
        ),
    ]:
        [landed_file] = staged(model, key_column, key, "landed_file")
        assert landed_file.endswith(file_name), (model, key)
    [(duplicates,)] = query(
        db,
        """
        select sum(duplicate_delivery_rows) from audit.landing_audit
        where landing_table in ('support/tickets', 'consent/events', 'privacy/deletion_requests')
        """,
    )
    assert duplicates >= 6
    # The masked copy staged before keeps the key of the value it no longer shows.
    [(is_erased, identifier_value, identifier_key)] = query(
        db,
        f"""
        select is_erased, identifier_value, identifier_key from staging.stg_consent__events
        where consent_event_id = '{drop.late_consent_event_id}'
        """,
    )
    assert is_erased and identifier_value is None and identifier_key is not None


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
        ("stg_crm__contacts", "crm/contacts", "contact_id", "email"),
        ("stg_shop__customers", "shop/customers", "customer_id", "email"),
        ("stg_support__tickets", "support/tickets", "ticket_id", "requester_email"),
        ("stg_consent__events", "consent/events", "consent_event_id", "identifier_value"),
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
            union all select email from staging.stg_crm__contacts
            union all select email from staging.stg_shop__customers
            union all select requester_email from staging.stg_support__tickets
            union all select identifier_value from staging.stg_consent__events
        ) where email = '{drop.erased_email}'
        """,
    )
    assert leaks == 0
    # Rows of the erased person that arrived in the same drop as the request.
    [(landed_file, is_erased, email, city)] = query(
        db,
        f"""
        select landed_file, is_erased, email, city from staging.stg_crm__contacts
        where contact_id = '{drop.erased_contact_id}'
        """,
    )
    assert landed_file.endswith("redelivery-0001.csv") and is_erased
    assert email is None and city is None
    [(is_erased, identifier_value, identifier_key)] = query(
        db,
        """
        select is_erased, identifier_value, identifier_key from staging.stg_consent__events
        where consent_event_id = 'consent-late-1'
        """,
    )
    assert is_erased and identifier_value is None
    assert identifier_key == hashlib.md5(f"email:{drop.erased_email}".encode()).hexdigest()


def test_an_order_version_with_a_new_email_keeps_the_old_one_reachable(drop: Drop) -> None:
    """The superseded version's email still resolves, read from the kept versions."""
    order_id = drop.readdressed_order_id
    [(customer_id, new_email, old_email)] = query(
        drop.incremental,
        f"""
        select record_customers.customer_id, orders.email, versions.email
        from identity.int_identity__record_customers as record_customers
        inner join staging.stg_shop__orders as orders
            on record_customers.record_key = orders.order_id
        inner join core.int_customers__versioned_identifiers as versions
            on versions.record_key = orders.order_id and versions.email <> orders.email
        where record_customers.record_source = 'shop/orders' and orders.order_id = '{order_id}'
        """,
    )
    assert new_email == f"new.address.{order_id}@example.com"
    emails = {
        value
        for (value,) in query(
            drop.incremental,
            f"""
            select identifier_value from core.customer_identifiers
            where customer_id = '{customer_id}' and identifier_type = 'email'
            """,
        )
    }
    assert {old_email, new_email} <= emails
