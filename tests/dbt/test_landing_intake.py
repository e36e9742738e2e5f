"""The landing intake: one unusual, bad or misplaced file never stops the build or loses rows.

One landing directory holds a valid file for every table plus, in other files, every kind of
trouble the intake must handle: a quoted line break, a field over DuckDB's 2 MB line limit, an
unterminated quote, Latin-1 files read with and without the configured encoding, a Parquet
file with a nested column, a file in the wrong folder, a file without its key column, and
files with other extensions and delimiters (.CSV, .csv.gz, a .parquet in a CSV deployment,
semicolon- and tab-separated, a spreadsheet). One build of it must succeed (its tests include
the accounting test: every landed line is staged, superseded, a duplicate or quarantined), with
every valid row staged, every bad line or file in the quarantine with file, line and reason,
and no personal data of a bad line stored anywhere. A second warehouse checks that a moved
landing root and an appended file keep the accounting right without a full refresh.
"""

from __future__ import annotations

import csv
import gzip
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cdp.landing import LANDING_TABLES, write_csv_landing
from tests.conftest import build_warehouse, query

# Values of rejected lines: none of them may be stored or logged anywhere.
SECRET_EMAIL = "hidden.person@example.org"
SECRET_NAME = "Zebulon"

BASE_ROWS = {
    "crm/contacts": [
        {"contact_id": "c-1", "email": "ann@example.com", "updated_at": "2024-01-01 00:00:00"}
    ],
    "shop/customers": [
        {
            "customer_id": "u-1",
            "email": "real.customer@example.com",
            "city": "Lyon",
            "updated_at": "2024-01-01 00:00:00",
        }
    ],
    "shop/orders": [
        {
            "order_id": "o-1",
            "customer_id": "u-1",
            "ordered_at": "2024-01-02 00:00:00",
            "status": "paid",
            "total": "10",
            "updated_at": "2024-01-02 00:00:00",
        }
    ],
    "shop/order_items": [
        {"order_id": "o-1", "line_number": "1", "sku": "s", "quantity": "1", "unit_price": "10"}
    ],
    "events/tracks": [
        {"message_id": "t-1", "user_id": "u-1", "event": "x", "timestamp": "2024-01-03 00:00:00"}
    ],
    "events/identifies": [
        {"message_id": "i-1", "user_id": "u-1", "timestamp": "2024-01-03 00:00:00"}
    ],
    "email/events": [
        {
            "event_id": "e-1",
            "email": "ann@example.com",
            "event_type": "open",
            "occurred_at": "2024-01-04 00:00:00",
        }
    ],
    "support/tickets": [
        {"ticket_id": "k-1", "requester_email": "ann@example.com", "created_at": "2024-01-05"}
    ],
    "consent/events": [
        {
            "consent_event_id": "ce-1",
            "identifier_type": "email",
            "identifier_value": "ann@example.com",
            "purpose": "email_marketing",
            "status": "granted",
            "recorded_at": "2024-01-06 00:00:00",
        }
    ],
    "privacy/deletion_requests": [],
}


def csv_text(table: str, rows: list[dict[str, str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=LANDING_TABLES[table], delimiter=delimiter, lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({column: row.get(column, "") for column in LANDING_TABLES[table]})
    return out.getvalue()


def contact(contact_id: str, **values: str) -> dict[str, str]:
    return {"contact_id": contact_id, "updated_at": "2024-02-01 00:00:00", **values}


def write_messy_landing(raw: Path) -> None:
    write_csv_landing(raw, BASE_ROWS)
    header = ",".join(LANDING_TABLES["crm/contacts"])

    def contacts_line(contact_id: str, job_title: str) -> str:
        values = dict.fromkeys(LANDING_TABLES["crm/contacts"], "")
        values.update(contact_id=contact_id, job_title=job_title, updated_at="2024-02-01")
        return ",".join(values.values())

    crm = raw / "crm" / "contacts"
    # Finding 1: a quoted line break (DuckDB's parallel scanner refused it with null_padding).
    (crm / "quoted-newline.csv").write_text(
        csv_text("crm/contacts", [contact("c-nl", job_title="Head of\nTesting")])
    )
    # A field over 2 MB: that line is quarantined, the lines around it are read.
    big_line = contacts_line("c-big", "x" * (2 * 1024 * 1024 + 10)).replace(
        "c-big,", f"c-big,{SECRET_EMAIL}", 1
    )
    (crm / "huge-field.csv").write_text(
        "\n".join([header, contacts_line("c-before", "a"), big_line, contacts_line("c-after", "b")])
        + "\n"
    )
    # An unterminated quote: DuckDB would end the file there; the file is quarantined whole.
    tickets = raw / "support" / "tickets"
    (tickets / "unterminated.csv").write_text(
        ",".join(LANDING_TABLES["support/tickets"])
        + "\n"
        + 'k-2,"unterminated@example.com,email,high,open,2024-01-05,,\n'
        + "k-3,b@example.com,email,low,open,2024-01-06,,\n"
    )
    # Latin-1 without the configured encoding: the line with a non-UTF-8 byte is quarantined.
    customers_header = ",".join(LANDING_TABLES["shop/customers"])
    (raw / "shop" / "customers" / "latin1.csv").write_bytes(
        (
            customers_header
            + "\nu-2,b@example.com,,Zoe,,,Lyon,,2024-01-01,2024-01-01"
            + f"\nu-3,{SECRET_EMAIL},,{SECRET_NAME}é,,,München,,2024-01-01,2024-01-01"
            + "\nu-4,d@example.com,,Max,,,Paris,,2024-01-01,2024-01-01\n"
        ).encode("latin-1")
    )
    # Latin-1 with the configured encoding (CDP_LANDING_ENCODING_EMAIL_EVENTS): read right.
    (raw / "email" / "events" / "latin1.csv").write_bytes(
        (
            ",".join(LANDING_TABLES["email/events"])
            + "\ne-2,andre@example.com,campaign-é,open,2024-01-04 00:00:00\n"
        ).encode("latin-1")
    )
    # A Parquet file with a nested column: read, the nested value as JSON text.
    identifies = raw / "events" / "identifies" / "nested.parquet"
    duckdb.sql(
        "select 'i-2' as message_id, 'anon-2' as anonymous_id, 'u-1' as user_id, "
        "'n@example.com' as email, '2024-01-03 00:00:00' as timestamp, "
        "{'plan': 'pro', 'seats': 3} as traits"
    ).write_parquet(str(identifies))
    # Finding 2: an orders file in shop/customers, and an orders file without its key.
    (raw / "shop" / "customers" / "orders-in-wrong-folder.csv").write_text(
        csv_text(
            "shop/orders",
            [{"order_id": "o-9", "customer_id": "u-1", "updated_at": "2030-01-01 00:00:00"}],
        )
    )
    orders_without_key = [c for c in LANDING_TABLES["shop/orders"] if c != "order_id"]
    (raw / "shop" / "orders" / "no-key.csv").write_text(
        ",".join(orders_without_key) + "\nu-1,x@example.com,2024-01-02,paid,1,0,1,0,2030-01-01\n"
    )
    # Finding 4: other extensions and delimiters.
    (raw / "shop" / "order_items" / "upper.CSV").write_text(
        csv_text("shop/order_items", [{"order_id": "o-1", "line_number": "2", "quantity": "1",
                                       "unit_price": "5"}])
    )  # fmt: skip
    gz_row = {"message_id": "t-gz", "user_id": "u-1", "event": "y", "timestamp": "2024-01-03"}
    with gzip.open(raw / "events" / "tracks" / "more.csv.gz", "wt") as handle:
        handle.write(csv_text("events/tracks", [gz_row]))
    duckdb.sql(
        "select 't-pq' as message_id, null::varchar as anonymous_id, 'u-1' as user_id, "
        "'z' as event, '2024-01-03 00:00:00' as timestamp, null::varchar as properties"
    ).write_parquet(str(raw / "events" / "tracks" / "in-csv-deployment.parquet"))
    (raw / "consent" / "events" / "semicolon.csv").write_text(
        csv_text(
            "consent/events",
            [
                {
                    "consent_event_id": "ce-semi",
                    "identifier_type": "email",
                    "identifier_value": "ann@example.com",
                    "purpose": "email_marketing",
                    "status": "denied",
                    "recorded_at": "2024-01-07 00:00:00",
                }
            ],
            delimiter=";",
        )
    )
    (raw / "privacy" / "deletion_requests" / "tabs.tsv").write_text(
        csv_text(
            "privacy/deletion_requests",
            [{"request_id": "dr-tab", "identifier_type": "email",
              "identifier_value": "gone@example.com", "requested_at": "2024-01-08"}],
            delimiter="\t",
        )
    )  # fmt: skip
    (raw / "privacy" / "deletion_requests" / "export.xlsx").write_bytes(b"PK\x03\x04 not csv")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("messy")
    raw = root / "landing"
    write_messy_landing(raw)
    saved = os.environ.get("CDP_LANDING_ENCODING_EMAIL_EVENTS")
    os.environ["CDP_LANDING_ENCODING_EMAIL_EVENTS"] = "latin-1"
    try:
        build_warehouse(raw, root / "warehouse.duckdb")
    finally:
        if saved is None:
            os.environ.pop("CDP_LANDING_ENCODING_EMAIL_EVENTS", None)
        else:
            os.environ["CDP_LANDING_ENCODING_EMAIL_EVENTS"] = saved
    yield root / "warehouse.duckdb"


def quarantine(duckdb_path: Path, landed_file: str) -> list[tuple]:
    return query(
        duckdb_path,
        "select landing_table, record_key, line_number, quarantine_reason "
        f"from audit.landing_quarantine where landed_file = '{landed_file}' order by line_number",
    )


def staged_keys(duckdb_path: Path, model: str, key: str) -> set[str]:
    return {row[0] for row in query(duckdb_path, f"select {key} from staging.{model}")}


def test_every_valid_row_of_every_table_is_staged(messy: Path) -> None:
    assert {"c-1", "c-nl", "c-before", "c-after"} <= staged_keys(
        messy, "stg_crm__contacts", "contact_id"
    )
    assert {"u-1", "u-2", "u-4"} <= staged_keys(messy, "stg_shop__customers", "customer_id")
    assert staged_keys(messy, "stg_shop__orders", "order_id") == {"o-1"}
    assert staged_keys(messy, "stg_support__tickets", "ticket_id") == {"k-1"}
    audit = {row[0]: row[1:] for row in query(messy, "select * from audit.landing_audit")}
    assert set(audit) == set(LANDING_TABLES)


def test_a_quoted_line_break_is_read(messy: Path) -> None:
    [(job_title,)] = query(
        messy, "select job_title from staging.stg_crm__contacts where contact_id = 'c-nl'"
    )
    assert job_title == "Head of\nTesting"


def test_a_line_over_the_size_limit_is_quarantined_with_its_line(messy: Path) -> None:
    [(table, key, line, reason)] = quarantine(messy, "crm/contacts/huge-field.csv")
    assert (table, key, line) == ("crm/contacts", None, 3)
    assert "maximum line size" in reason


def test_an_unterminated_quote_quarantines_the_file_whole(messy: Path) -> None:
    [(table, key, line, reason)] = quarantine(messy, "support/tickets/unterminated.csv")
    assert table == "support/tickets" and key is None and line is None
    assert "unterminated quote" in reason
    [(status,)] = query(
        messy,
        "select status from audit.landing_files where path = 'support/tickets/unterminated.csv'",
    )
    assert status == "quarantined"


def test_latin1_without_the_configured_encoding_quarantines_the_bad_line(messy: Path) -> None:
    [(table, _, line, reason)] = quarantine(messy, "shop/customers/latin1.csv")
    assert (table, line) == ("shop/customers", 3)
    assert "encoding" in reason and "utf-8" in reason


def test_latin1_with_the_configured_encoding_is_read(messy: Path) -> None:
    [(email, campaign)] = query(
        messy,
        "select email, campaign_id from staging.stg_email__events where email_event_id = 'e-2'",
    )
    assert (email, campaign) == ("andre@example.com", "campaign-é")
    assert quarantine(messy, "email/events/latin1.csv") == []


def test_a_nested_parquet_column_is_read_as_json_text(messy: Path) -> None:
    [(landed_file,)] = query(
        messy,
        "select landed_file from staging.stg_events__identifies where message_id = 'i-2'",
    )
    assert landed_file == "events/identifies/nested.parquet"
    intake = messy.with_name(messy.name + ".landing") / "data" / "events" / "identifies"
    [(traits,)] = duckdb.sql(
        f"select traits from read_parquet('{intake}/*.parquet') where message_id = 'i-2'"
    ).fetchall()
    assert traits == '{"plan":"pro","seats":3}'


def test_a_file_in_the_wrong_folder_is_quarantined_whole(messy: Path) -> None:
    [(_, _, line, reason)] = quarantine(messy, "shop/customers/orders-in-wrong-folder.csv")
    assert line is None and "shop/orders" in reason
    # The real customer keeps the values it had.
    [(email, city)] = query(
        messy, "select email, city from staging.stg_shop__customers where customer_id = 'u-1'"
    )
    assert (email, city) == ("real.customer@example.com", "Lyon")


def test_a_file_without_its_key_column_is_quarantined_whole(messy: Path) -> None:
    [(_, _, line, reason)] = quarantine(messy, "shop/orders/no-key.csv")
    assert line is None and "order_id" in reason


def test_other_extensions_and_delimiters_are_read(messy: Path) -> None:
    assert ("o-1#2",) in query(messy, "select order_item_id from staging.stg_shop__order_items")
    assert {"t-gz", "t-pq"} <= staged_keys(messy, "stg_events__tracks", "message_id")
    assert "ce-semi" in staged_keys(messy, "stg_consent__events", "consent_event_id")
    [(request_id,)] = query(
        messy, "select deletion_request_id from staging.stg_privacy__deletion_requests"
    )
    assert request_id == "dr-tab"


def test_a_file_that_cannot_be_read_is_reported_skipped_with_the_reason(messy: Path) -> None:
    [(status, reason)] = query(
        messy,
        "select status, reason from audit.landing_files "
        "where path = 'privacy/deletion_requests/export.xlsx'",
    )
    assert status == "skipped" and "unsupported file type (.xlsx)" in reason
    [(skipped,)] = query(
        messy,
        "select skipped_files from audit.landing_audit "
        "where landing_table = 'privacy/deletion_requests'",
    )
    assert skipped == 1


def test_no_content_of_a_rejected_line_is_stored(messy: Path) -> None:
    rows = query(messy, "select * from audit.landing_quarantine")
    assert rows and SECRET_EMAIL not in repr(rows) and SECRET_NAME not in repr(rows)
    intake = messy.with_name(messy.name + ".landing")
    for path in [intake / "manifest.json", *(intake / "data" / "landing_intake").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert SECRET_EMAIL.encode() not in data and SECRET_NAME.encode() not in data, path
    for path in (intake / "data" / "shop" / "customers").glob("*.parquet"):
        assert SECRET_NAME.encode() not in path.read_bytes(), path


# ---- finding 3: moved landing root, appended file -------------------------------------------


def test_a_moved_landing_root_and_an_appended_file_keep_every_row_accounted(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "landing"
    write_csv_landing(raw, BASE_ROWS)
    contacts = raw / "crm" / "contacts" / "part-00000.csv"
    duckdb_path = tmp_path / "warehouse.duckdb"
    build_warehouse(raw, duckdb_path)

    moved = tmp_path / "moved" / "landing"
    moved.parent.mkdir()
    shutil.move(raw, moved)
    contacts = moved / "crm" / "contacts" / "part-00000.csv"
    with contacts.open("a") as handle:
        new_line = csv_text("crm/contacts", [contact("c-2", email="new@example.com")])
        handle.write(new_line.split("\n", 1)[1])
    # No full refresh: the accounting test runs in the build and must pass.
    build_warehouse(moved, duckdb_path)

    assert staged_keys(duckdb_path, "stg_crm__contacts", "contact_id") == {"c-1", "c-2"}
    [(landed, staged, files)] = query(
        duckdb_path,
        "select landed_rows, staged_rows, landed_files from audit.landing_audit "
        "where landing_table = 'crm/contacts'",
    )
    assert (landed, staged, files) == (2, 2, 2)
    parts = query(
        duckdb_path,
        "select landed_file, rows_taken_in, status, reason from audit.landing_files "
        "where path = 'crm/contacts/part-00000.csv' order by landed_file",
    )
    assert [part[:3] for part in parts] == [
        ("crm/contacts/part-00000.csv", 1, "accepted"),
        ("crm/contacts/part-00000.csv#2", 1, "accepted"),
    ]
    assert "appended" in parts[1][3]


# ---- the intake on its own (no dbt) ----------------------------------------------------------


def test_a_file_rewritten_in_place_is_taken_in_again_and_reported(tmp_path: Path) -> None:
    from cdp.intake import take_in

    raw = tmp_path / "landing"
    write_csv_landing(raw, BASE_ROWS)
    take_in(raw, tmp_path / "intake")
    path = raw / "crm" / "contacts" / "part-00000.csv"
    path.write_text(csv_text("crm/contacts", [contact("c-9")]))
    take_in(raw, tmp_path / "intake")
    [(_, status, reason)] = duckdb.sql(
        "select landed_file, status, reason from read_parquet("
        f"'{tmp_path}/intake/data/landing_intake/files/*.parquet') "
        "where path = 'crm/contacts/part-00000.csv' and landed_file like '%#2'"
    ).fetchall()
    assert status == "accepted" and "rewritten in place" in reason


def test_an_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    from cdp.intake import take_in

    raw = tmp_path / "landing"
    write_csv_landing(raw, BASE_ROWS)
    first = take_in(raw, tmp_path / "intake")
    second = take_in(raw, tmp_path / "intake")
    assert first.accepted == len(LANDING_TABLES) and second.accepted == 0
    assert second.unchanged == len(LANDING_TABLES)


def _intake_rows(intake: Path, table: str) -> dict[str, tuple]:
    """Each taken-in row of a table by its first column: (its landed file, its first name)."""
    return {
        key: (landed_file, first_name)
        for key, landed_file, first_name in duckdb.sql(
            f"select contact_id, _landed_file, first_name from read_parquet('{intake}/data/"
            f"{table}/*.parquet') where contact_id like 'enc-%'"
        ).fetchall()
    }


def _file_reasons(intake: Path, path: str) -> list[tuple]:
    return duckdb.sql(
        "select landed_file, status, rejected_lines, reason from read_parquet("
        f"'{intake}/data/landing_intake/files/*.parquet') where path = '{path}' order by 1"
    ).fetchall()


def test_a_utf8_file_is_not_garbled_where_latin1_is_configured(tmp_path: Path) -> None:
    # Latin-1 accepts every byte: read in it, a UTF-8 "Renée" would become "RenÃ©e" quietly.
    from cdp.intake import take_in

    raw, intake = tmp_path / "landing", tmp_path / "intake"
    write_csv_landing(raw, BASE_ROWS)
    folder = raw / "crm" / "contacts"
    text = csv_text("crm/contacts", [contact("enc-utf8", first_name="Renée")])
    (folder / "utf8.csv").write_bytes(text.encode("utf-8"))
    (folder / "latin1.csv").write_bytes(text.replace("enc-utf8", "enc-latin1").encode("latin-1"))
    take_in(raw, intake, environ={"CDP_LANDING_ENCODING_CRM_CONTACTS": "latin-1"})
    rows = _intake_rows(intake, "crm/contacts")
    assert rows == {
        "enc-utf8": ("crm/contacts/utf8.csv", "Renée"),
        "enc-latin1": ("crm/contacts/latin1.csv", "Renée"),
    }
    [(_, status, _, reason)] = _file_reasons(intake, "crm/contacts/utf8.csv")
    assert status == "accepted" and "read as utf-8 although latin-1 is configured" in reason
    [(_, _, _, reason)] = _file_reasons(intake, "crm/contacts/latin1.csv")
    assert reason is None


@pytest.mark.parametrize("first_setting", [None, "cp1252"])
def test_a_file_the_encoding_could_not_read_is_read_again_once_it_is_configured(
    tmp_path: Path, first_setting: str | None
) -> None:
    # Without the setting the line is quarantined (or, with an encoding the intake cannot
    # use, the file); configuring the right encoding must bring it in without a full refresh.
    from cdp.intake import take_in

    raw, intake = tmp_path / "landing", tmp_path / "intake"
    write_csv_landing(raw, BASE_ROWS)
    text = csv_text("crm/contacts", [contact("enc-1", first_name="Renée")])
    (raw / "crm" / "contacts" / "export.csv").write_bytes(text.encode("latin-1"))
    # (`cdp` refuses an encoding it cannot use before the intake runs; the intake alone
    # quarantines the table's files.)
    variable = "CDP_LANDING_ENCODING_CRM_CONTACTS"
    first = {} if first_setting is None else {variable: first_setting}
    take_in(raw, intake, environ=first)
    assert _intake_rows(intake, "crm/contacts") == {}
    fixed = {variable: "latin-1"}
    summary = take_in(raw, intake, environ=fixed)
    # Only the files the encoding could not read are read again (with an unusable encoding,
    # the table's other file too); a file read well before is left as it was.
    assert summary.accepted == (1 if first_setting is None else 2)
    assert _intake_rows(intake, "crm/contacts") == {"enc-1": ("crm/contacts/export.csv#2", "Renée")}
    [before, after] = _file_reasons(intake, "crm/contacts/export.csv")
    assert before[1] == ("accepted" if first_setting is None else "quarantined")
    assert after[1:3] == ("accepted", 0)
    assert "the configured encoding is now latin-1" in after[3]
    # Read once: the next intake finds it unchanged.
    assert take_in(raw, intake, environ=fixed).unchanged == len(LANDING_TABLES) + 1


def test_header_contract() -> None:
    from cdp.landing import header_problem

    assert header_problem("shop/customers", LANDING_TABLES["shop/customers"]) is None
    assert (
        header_problem("shop/customers", [c.upper() for c in LANDING_TABLES["shop/customers"]])
        is None
    )
    assert "shop/orders" in header_problem("shop/customers", LANDING_TABLES["shop/orders"])
    assert "customer_id" in header_problem("shop/customers", LANDING_TABLES["shop/customers"][1:])
    assert header_problem("shop/customers", [*LANDING_TABLES["shop/customers"], "extra"]) is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.csv", "csv"),
        ("a.CSV", "csv"),
        ("a.csv.gz", "csv"),
        ("a.tsv", "csv"),
        ("a.Parquet", "parquet"),
        ("a.xlsx", None),
        ("_SUCCESS", None),
        (".a.csv.swp", None),
    ],
)
def test_file_kinds(name: str, kind: str | None) -> None:
    from cdp.intake import file_kind

    assert file_kind(Path(name))[0] == kind
