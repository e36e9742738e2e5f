"""After an erasure, no byte of the person is left in the warehouse file or the activation dir.

A tiny landing dir with two people is built and sent to a file destination; then one of them
asks to be erased, the warehouse is built again (incremental), the sync runs, and `cdp run`'s
reclaim step rewrites the file. A byte scan of the .duckdb file, its WAL and every activation
file then finds none of the person's email, phone or name, in any case or encoding.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from cdp.erasure import reclaim_erased_data
from cdp.landing import write_csv_landing
from reverse_etl.config import SyncConfig
from reverse_etl.destinations import build_destination
from reverse_etl.engine import run_sync
from reverse_etl.warehouse import DuckDBWarehouse
from tests.conftest import build_warehouse, query

EMAIL = "Zoe.Quixadilla@Example.COM"
PHONE = "(415) 555-0199"
FIRST_NAME, LAST_NAME = "Zoë", "Quixadilla-Brønsted"
ANONYMOUS_ID = "anon-4c1f9e0b77d2"
OTHER_EMAIL = "kept.person@example.org"


def _variants() -> list[bytes]:
    texts = {EMAIL, EMAIL.lower(), EMAIL.upper(), PHONE, "4155550199", FIRST_NAME, LAST_NAME}
    texts |= {FIRST_NAME.lower(), LAST_NAME.lower(), FIRST_NAME.upper(), LAST_NAME.upper()}
    texts |= {ANONYMOUS_ID}
    found: set[bytes] = set()
    for text in texts:
        found.add(text.encode())
        found.add(json.dumps(text).strip('"').encode())  # JSON-escaped (\u00eb)
        found.add(text.encode("utf-16-le"))
    return sorted(found)


def _traces(paths: list[Path]) -> dict[str, list[bytes]]:
    variants = _variants()
    traces = {}
    for path in paths:
        data = path.read_bytes()
        hits = [variant for variant in variants if variant in data]
        if hits:
            traces[str(path)] = hits
    return traces


def _person(number: int, email: str, phone: str, first: str, last: str, anonymous_id: str):
    customer = f"shop-{number}"
    at = f"2025-03-0{number}T10:00:00Z"
    return {
        "crm/contacts": [
            {
                "contact_id": f"crm-{number}",
                "email": email,
                "phone": phone,
                "first_name": first,
                "last_name": last,
                "country": "US",
                "city": "Springfield",
                "is_deleted": "false",
                "created_at": at,
                "updated_at": at,
            }
        ],
        "shop/customers": [
            {
                "customer_id": customer,
                "email": email,
                "phone": phone,
                "first_name": first,
                "last_name": last,
                "country": "US",
                "accepts_email_marketing": "true",
                "created_at": at,
                "updated_at": at,
            }
        ],
        "shop/orders": [
            {
                "order_id": f"order-{number}",
                "customer_id": customer,
                "email": email,
                "ordered_at": at,
                "status": "paid",
                "subtotal": "40.00",
                "discount": "0",
                "total": "40.00",
                "refunded_amount": "0",
                "updated_at": at,
            }
        ],
        "events/identifies": [
            {
                "message_id": f"identify-{number}",
                "anonymous_id": anonymous_id,
                "user_id": customer,
                "email": email,
                "timestamp": at,
                "traits": json.dumps({"email": email, "name": f"{first} {last}"}),
            }
        ],
        "events/tracks": [
            {
                "message_id": f"track-{number}",
                "anonymous_id": anonymous_id,
                "user_id": customer,
                "event": "Product Viewed",
                "timestamp": at,
                "properties": json.dumps({"sku": "A1", "contact": email}),
            }
        ],
        "email/events": [
            {
                "event_id": f"email-{number}",
                "email": email,
                "campaign_id": "spring",
                "event_type": "open",
                "occurred_at": at,
            }
        ],
        "support/tickets": [
            {
                "ticket_id": f"ticket-{number}",
                "requester_email": email,
                "channel": "email",
                "priority": "low",
                "status": "solved",
                "created_at": at,
                "solved_at": at,
                "satisfaction_score": "5",
            }
        ],
        "consent/events": [
            {
                "consent_event_id": f"consent-{number}",
                "identifier_type": "email",
                "identifier_value": email,
                "purpose": "email_marketing",
                "status": "granted",
                "recorded_at": at,
                "source": "web",
            }
        ],
    }


def _landing(raw_dir: Path) -> None:
    erased = _person(1, EMAIL, PHONE, FIRST_NAME, LAST_NAME, ANONYMOUS_ID)
    kept = _person(2, OTHER_EMAIL, "(212) 555-0123", "Kept", "Person", "anon-kept-1")
    write_csv_landing(raw_dir, {table: erased[table] + kept[table] for table in erased})


FEED = """
    create or replace view activation.erasure_feed as
    select customer_id, email, phone, first_name, last_name,
        true as has_consent, false as is_holdout
    from core.customers
    where not is_erased
"""


def _sync(directory: str) -> SyncConfig:
    return SyncConfig(
        name="people_to_file",
        source="activation.erasure_feed",
        fields={"email": "email", "phone": "phone", "first_name": "first_name",
                "last_name": "last_name"},
        destination={"type": "file", "options": {"directory": directory}},
    )  # fmt: skip


def _send(db: Path, sync: SyncConfig) -> None:
    warehouse = DuckDBWarehouse.connect(db)
    try:
        result = run_sync(sync, warehouse, build_destination(sync))
    finally:
        warehouse.close()
    assert result.status == "success"


@pytest.mark.slow
def test_an_erased_person_leaves_no_bytes_in_the_warehouse_file_or_the_activation_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_AS_OF", "2025-07-01")
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path))
    raw, db, activation = tmp_path / "landing", tmp_path / "warehouse.duckdb", tmp_path / "out"
    _landing(raw)
    build_warehouse(raw, db)
    with duckdb.connect(str(db)) as connection:
        connection.execute("create schema if not exists activation")
        connection.execute(FEED)
    sync = _sync(activation.name)
    _send(db, sync)
    activation_files = lambda: sorted(activation.rglob("*"))  # noqa: E731
    assert _traces([path for path in activation_files() if path.is_file()])
    warehouse_files = [db, db.with_name(db.name + ".wal")]
    before = _traces([path for path in warehouse_files if path.exists()])
    assert before, "the scan must see the person before the erasure"

    write_csv_landing(
        raw,
        {
            "privacy/deletion_requests": [
                {
                    "request_id": "dsr-1",
                    "identifier_type": "email",
                    "identifier_value": EMAIL.lower(),
                    "requested_at": "2025-06-01T00:00:00Z",
                }
            ]
        },
        file_name="part-00001.csv",
    )
    build_warehouse(raw, db)
    _send(db, sync)
    first = reclaim_erased_data(db)

    files = warehouse_files + [path for path in activation_files() if path.is_file()]
    assert _traces([path for path in files if path.exists()]) == {}
    assert first.reclaimed and first.erased_records > 0
    assert query(db, "select count(*) from core.customers where is_erased") == [(1,)]
    again = reclaim_erased_data(db)
    assert not again.reclaimed, "the file is rewritten only when there are new erasures"
    # The other person is still there, everywhere.
    assert query(db, f"select count(*) from core.customers where email = '{OTHER_EMAIL}'") == [(1,)]
    sent = "".join(path.read_text() for path in activation.rglob("*.jsonl"))
    assert OTHER_EMAIL in sent
    assert '"operation": "erase"' in sent
    # The rewritten file is a whole warehouse: the state keeps its key, views still read.
    assert query(db, "select count(*) from activation.erasure_feed") == [(1,)]
    with duckdb.connect(str(db)) as connection, pytest.raises(duckdb.ConstraintException):
        connection.execute(
            "insert into reverse_etl.sync_state select * from reverse_etl.sync_state limit 1"
        )


def test_the_file_is_rewritten_only_after_new_erasures_and_keeps_everything_else(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cdp.duckdb"
    with duckdb.connect(str(db)) as connection:
        connection.execute("create schema privacy; create schema core; create schema audit")
        connection.execute(
            "create table privacy.int_privacy__erased_records (record_source varchar,"
            " record_key varchar)"
        )
        connection.execute(
            "create table core.people (id varchar primary key, email varchar);"
            f" insert into core.people values ('a', '{EMAIL}'), ('b', '{OTHER_EMAIL}')"
        )
        connection.execute("create view core.people_view as select * from core.people")
    assert not reclaim_erased_data(db).reclaimed, "nothing erased yet"
    with duckdb.connect(str(db)) as connection:
        connection.execute("update core.people set email = null where id = 'a'")
        connection.execute("insert into privacy.int_privacy__erased_records values ('x', 'a')")
    assert _traces([db]), "the old row version is still in the file"

    first, second = reclaim_erased_data(db), reclaim_erased_data(db)
    with duckdb.connect(str(db)) as connection:
        connection.execute("insert into privacy.int_privacy__erased_records values ('x', 'b')")
    third, forced = reclaim_erased_data(db), reclaim_erased_data(db, force=True)

    assert (first.reclaimed, second.reclaimed, third.reclaimed, forced.reclaimed) == (
        True,
        False,
        True,
        True,
    )
    assert _traces([db]) == {}
    assert query(db, "select * from core.people_view order by id") == [
        ("a", None),
        ("b", OTHER_EMAIL),
    ]
    assert query(db, "select erased_records from audit.erasure_reclaims order by 1") == [
        (1,),
        (2,),
        (2,),
    ]
    assert not list(tmp_path.glob("*.compacting*"))
