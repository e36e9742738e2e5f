"""The sample data generator: layout, determinism, ground truth, mess, drops."""

from __future__ import annotations

import collections
import csv
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import sample_data.generator.population as population_module
from sample_data.generator import generate_drop, generate_landing

PEOPLE = 300
SEED = 7

# The landing contract (DESIGN.md, "Landing"), spelled out here so drift is caught.
COLUMNS = {
    "crm/contacts": "contact_id,email,phone,first_name,last_name,company,job_title,country,city,"
    "lifecycle_stage,is_deleted,created_at,updated_at",
    "shop/customers": "customer_id,email,phone,first_name,last_name,country,city,"
    "accepts_email_marketing,created_at,updated_at",
    "shop/orders": "order_id,customer_id,email,ordered_at,status,subtotal,discount,total,"
    "refunded_amount,updated_at",
    "shop/order_items": "order_id,line_number,sku,product_name,category,quantity,unit_price",
    "events/tracks": "message_id,anonymous_id,user_id,event,timestamp,properties",
    "events/identifies": "message_id,anonymous_id,user_id,email,timestamp,traits",
    "email/events": "event_id,email,campaign_id,event_type,occurred_at",
    "support/tickets": "ticket_id,requester_email,channel,priority,status,created_at,solved_at,"
    "satisfaction_score",
    "consent/events": "consent_event_id,identifier_type,identifier_value,purpose,status,"
    "recorded_at,source",
    "privacy/deletion_requests": "request_id,identifier_type,identifier_value,requested_at",
}
KEYS = {
    "crm/contacts": "contact_id",
    "shop/customers": "customer_id",
    "shop/orders": "order_id",
    "events/tracks": "message_id",
    "events/identifies": "message_id",
    "email/events": "event_id",
    "support/tickets": "ticket_id",
    "consent/events": "consent_event_id",
    "privacy/deletion_requests": "request_id",
}
VERSIONED = {"crm/contacts", "shop/customers", "shop/orders"}
PLACEHOLDER_EMAILS = {"test@test.com", "noemail@example.com", "none@none.com"}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{3})?(Z|[+-]\d{2}:\d{2})?$")


def read_rows(root: Path, table: str, pattern: str = "part-*.csv") -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((root / table).glob(pattern)):
        with path.open(newline="", encoding="utf-8") as f:
            rows.extend(csv.DictReader(f))
    return rows


def read_truth(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def valid_timestamp(value: str) -> bool:
    if not ISO.match(value):
        return False
    month, day = int(value[5:7]), int(value[8:10])
    return 1 <= month <= 12 and 1 <= day <= 31 and int(value[11:13]) < 24


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("landing")
    summary = generate_landing(PEOPLE, SEED, out, "csv", out / "_truth")
    return out, summary


def test_every_table_written_with_the_contract_header(landing):
    out, summary = landing
    assert list(summary) == list(COLUMNS)
    for table, header in COLUMNS.items():
        path = out / table / "part-00000.csv"
        assert path.read_text(encoding="utf-8").splitlines()[0] == header
        assert summary[table] == len(read_rows(out, table)) > 0
    assert (out / "_truth" / "truth.csv").is_file()
    for table in COLUMNS:  # only part files in table folders, never the truth
        assert {p.name for p in (out / table).iterdir()} == {"part-00000.csv"}


def test_same_seed_same_bytes_other_seed_differs(landing, tmp_path):
    out, _ = landing
    again = tmp_path / "again"
    generate_landing(PEOPLE, SEED, again, "csv", again / "_truth")
    assert digests(again) == digests(out)
    other = tmp_path / "other"
    generate_landing(PEOPLE, SEED + 1, other, "csv", other / "_truth")
    first, second = digests(out), digests(other)
    assert first.keys() == second.keys()
    assert all(first[k] != second[k] for k in first)


def test_truth_covers_every_record_key_once(landing):
    out, _ = landing
    truth = read_truth(out / "_truth" / "truth.csv")
    assert list(truth[0]) == ["table", "record_key", "person_id"]
    pairs = [(r["table"], r["record_key"]) for r in truth]
    assert len(pairs) == len(set(pairs)), "a record key is assigned twice"
    assert all(re.fullmatch(r"p\d{7}", r["person_id"]) for r in truth)
    for table, key in KEYS.items():
        landed = {r[key] for r in read_rows(out, table)}
        truthful = {k for t, k in pairs if t == table}
        assert landed == truthful, table
    orders = {r["order_id"] for r in read_rows(out, "shop/orders")}
    assert {r["order_id"] for r in read_rows(out, "shop/order_items")} <= orders
    # real (non-placeholder) emails and user ids never point at two people
    person = {(r["table"], r["record_key"]): r["person_id"] for r in truth}
    owners: dict[str, set[str]] = collections.defaultdict(set)
    for table in ("crm/contacts", "shop/customers", "shop/orders"):
        for r in read_rows(out, table):
            email = r["email"].strip().lower()
            if email and "@" in email and email not in PLACEHOLDER_EMAILS:
                owners[email].add(person[(table, r[KEYS[table]])])
    assert owners and all(len(p) == 1 for p in owners.values())


def test_mess_is_present(landing):
    out, _ = landing
    contacts = read_rows(out, "crm/contacts")
    customers = read_rows(out, "shop/customers")
    orders = read_rows(out, "shop/orders")
    tracks = read_rows(out, "events/tracks")
    identifies = read_rows(out, "events/identifies")
    email_events = read_rows(out, "email/events")
    emails = [r["email"] for r in contacts + customers + orders + email_events if r["email"]]
    phones = [r["phone"] for r in contacts + customers if r["phone"]]

    assert any(e != e.lower() for e in emails), "mixed-case emails"
    assert any(e != e.strip() for e in emails), "emails with stray spaces"
    assert any("@" not in e or e.endswith("@") for e in emails), "unparseable emails"
    assert {e for e in emails if e in PLACEHOLDER_EMAILS}, "placeholder emails"
    assert {p for p in phones if p in {"0000000000", "1234567890", "n/a"}}, "placeholder phones"
    assert any(p.startswith("+") for p in phones) and any("(" in p for p in phones)
    assert any(not re.search(r"\d{2}", p) for p in phones), "unparseable phones"
    # placeholder records keep their own id
    assert all(r["contact_id"] for r in contacts if r["email"] in PLACEHOLDER_EMAILS)

    for rows in (tracks, identifies):
        ids = collections.Counter(r["message_id"] for r in rows)
        assert any(n > 1 for n in ids.values()), "duplicate deliveries"
    for rows in (email_events, contacts):
        full = collections.Counter(tuple(r.values()) for r in rows)
        assert any(n > 1 for n in full.values()), "exact duplicate rows"

    stamps = [r["timestamp"] for r in tracks] + [r["ordered_at"] for r in orders]
    assert any(s == "" or not valid_timestamp(s) for s in stamps), "unparseable timestamps"
    shapes = {("T" in s, s.endswith("Z"), "." in s, "+" in s[10:] or "-" in s[10:]) for s in stamps}
    assert len(shapes) >= 4, "several timestamp shapes"

    assert any(r["customer_id"] == "" and r["email"] for r in orders), "guest orders"
    refunded = [r for r in orders if r["status"] == "refunded"]
    partial = [r for r in orders if r["status"] == "partially_refunded"]
    assert refunded and partial
    assert all(r["refunded_amount"] for r in refunded + partial)
    assert any(r["is_deleted"] in {"true", "1", "TRUE"} for r in contacts), "deleted contacts"
    assert any(
        not re.fullmatch(r"\d+\.\d{2}", r[c]) for r in orders for c in ("subtotal", "total")
    ), "unparseable amounts"
    versions = collections.Counter(r["contact_id"] for r in contacts)
    assert any(n > 1 for n in versions.values()), "contacts with several versions"
    assert len({r["order_id"] for r in orders}) < len(orders), "orders with several versions"


def test_amounts_add_up(landing):
    out, _ = landing
    lines: dict[str, int] = collections.defaultdict(int)
    for r in read_rows(out, "shop/order_items"):
        cents = round(float(r["unit_price"]) * 100)
        lines[r["order_id"]] += int(r["quantity"]) * cents
    checked = 0
    for r in read_rows(out, "shop/orders"):
        values = [r["subtotal"], r["discount"], r["total"]]
        if not all(re.fullmatch(r"\d+\.\d{2}", v) for v in values):
            continue
        subtotal, discount, total = (round(float(v) * 100) for v in values)
        assert subtotal == lines[r["order_id"]]
        assert total == subtotal - discount
        if r["status"] == "refunded":
            assert r["refunded_amount"] == r["total"]
        if r["status"] == "partially_refunded":
            assert 0 < round(float(r["refunded_amount"]) * 100) < total
        checked += 1
    assert checked > 100


def test_changed_emails_stay_linked_through_the_crm(landing):
    out, _ = landing
    by_contact: dict[str, set[str]] = collections.defaultdict(set)
    for r in read_rows(out, "crm/contacts"):
        if "@" in r["email"] and r["email"].strip().lower() not in PLACEHOLDER_EMAILS:
            by_contact[r["contact_id"]].add(r["email"].strip().lower())
    assert any(len(e) > 1 for e in by_contact.values())


def test_parquet_has_the_same_rows_as_csv(landing, tmp_path):
    out, _ = landing
    pq_out = tmp_path / "pq"
    summary = generate_landing(PEOPLE, SEED, pq_out, "parquet", pq_out / "_truth")
    for table in COLUMNS:
        t = pq.read_table(pq_out / table / "part-00000.parquet")
        assert t.column_names == COLUMNS[table].split(",")
        assert all(str(f.type) == "string" for f in t.schema)
        from_parquet = [
            tuple("" if v is None else v for v in row.values()) for row in t.to_pylist()
        ]
        from_csv = [tuple(r.values()) for r in read_rows(out, table)]
        assert from_parquet == from_csv, table
        assert summary[table] == len(from_csv)
    truth_csv = (out / "_truth" / "truth.csv").read_bytes()
    assert (pq_out / "_truth" / "truth.csv").read_bytes() == truth_csv


def test_drop_writes_only_new_files_with_fresh_keys(tmp_path):
    out = tmp_path / "landing"
    generate_landing(PEOPLE, SEED, out, "csv", out / "_truth")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in out.rglob("*") if p.is_file()}

    summary = generate_drop(PEOPLE, SEED, out, "csv", out / "_truth", drop=1)
    assert sum(summary.values()) > 0
    after = [p for p in out.rglob("*") if p.is_file()]
    for p, (mtime, data) in before.items():
        assert p.stat().st_mtime_ns == mtime and p.read_bytes() == data
    new = sorted(str(p.relative_to(out)) for p in after if p not in before)
    assert "_truth/drop-0001.csv" in new
    assert all(
        re.fullmatch(r"[a-z]+/[a-z_]+/drop-0001-part-\d{5}\.csv", n)
        for n in new
        if "_truth" not in n
    )
    assert len(new) >= 8

    initial = read_truth(out / "_truth" / "truth.csv")
    dropped = read_truth(out / "_truth" / "drop-0001.csv")
    owner = {(r["table"], r["record_key"]): r["person_id"] for r in initial}
    drop_pairs = [(r["table"], r["record_key"]) for r in dropped]
    assert len(drop_pairs) == len(set(drop_pairs))
    for r in dropped:
        k = (r["table"], r["record_key"])
        if k in owner:
            assert r["table"] in VERSIONED, k  # only new versions reuse a key
            assert owner[k] == r["person_id"]
    assert any(r["person_id"] not in {p for p in owner.values()} for r in dropped), "new people"
    for table, key in KEYS.items():
        landed = {r[key] for r in read_rows(out, table, "drop-0001-part-*.csv")}
        assert landed == {k for t, k in drop_pairs if t == table}, table

    # late events, and a drop never depends on earlier drops having been written
    tracks = read_rows(out, "events/tracks", "drop-0001-part-*.csv")
    assert any(
        r["timestamp"][:10] < "2025-07-01" for r in tracks if valid_timestamp(r["timestamp"])
    )
    generate_drop(PEOPLE, SEED, out, "csv", out / "_truth", drop=2)
    alone = tmp_path / "alone"
    generate_drop(PEOPLE, SEED, alone, "csv", alone / "_truth", drop=2)
    assert {k: v for k, v in digests(out).items() if "drop-0002" in k} == digests(alone)
    second = read_truth(out / "_truth" / "drop-0002.csv")
    fresh_keys = {(r["table"], r["record_key"]) for r in second if r["table"] not in VERSIONED}
    assert fresh_keys and not fresh_keys & set(drop_pairs)


def test_several_chunks_keep_ids_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(population_module, "CHUNK", 100)
    monkeypatch.setenv("CDP_GENERATOR_WORKERS", "1")
    out = tmp_path / "chunks"
    summary = generate_landing(PEOPLE, SEED, out, "csv", out / "_truth")
    for table in COLUMNS:
        parts = sorted(p.name for p in (out / table).iterdir())
        assert parts == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
        assert summary[table] == len(read_rows(out, table))
    truth = read_truth(out / "_truth" / "truth.csv")
    pairs = [(r["table"], r["record_key"]) for r in truth]
    assert len(pairs) == len(set(pairs))
    assert len({r["person_id"] for r in truth}) > 250
    for table, key in KEYS.items():
        assert {r[key] for r in read_rows(out, table)} == {k for t, k in pairs if t == table}
    generate_drop(PEOPLE, SEED, out, "csv", out / "_truth", drop=1)
    dropped = read_truth(out / "_truth" / "drop-0001.csv")
    owner = dict(zip(pairs, (r["person_id"] for r in truth), strict=True))
    for r in dropped:
        k = (r["table"], r["record_key"])
        assert k not in owner or (r["table"] in VERSIONED and owner[k] == r["person_id"])


# --- an oracle resolver: what the landing data makes linkable in principle -------------------

EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}")
AMOUNT = re.compile(r"\d+\.\d{2}")
# country: (calling code, digits of a national number without the trunk prefix "0")
CALLING_CODES = {
    "US": ("1", 10),
    "CA": ("1", 10),
    "GB": ("44", 10),
    "DE": ("49", 11),
    "FR": ("33", 9),
    "AU": ("61", 9),
    "NL": ("31", 9),
}


def email_node(raw: str) -> str | None:
    email = raw.strip().lower()
    if EMAIL.fullmatch(email) and email not in PLACEHOLDER_EMAILS:
        return "email:" + email
    return None


def phone_node(raw: str, country: str) -> str | None:
    """E.164 of a phone as written; national numbers take the country (default US)."""
    digits = re.sub(r"\D", "", raw.replace("(0)", ""))
    if not digits or len(set(digits)) == 1 or digits in ("1234567890", "0123456789"):
        return None
    code, length = CALLING_CODES.get(country, CALLING_CODES["US"])
    if raw.strip().startswith("+"):
        full = digits
    elif digits.startswith("00"):
        full = digits[2:]
    elif code == "1" and len(digits) == 11 and digits.startswith("1"):
        full = digits
    elif code != "1" and len(digits) == length + 1 and digits.startswith("0"):
        full = code + digits[1:]
    elif len(digits) == length:
        full = code + digits
    else:
        return None
    if not 8 <= len(full) <= 15 or full.startswith("0"):
        return None
    return "phone:+" + full


def consent_node(kind: str, value: str) -> str | None:
    if kind == "email":
        return email_node(value)
    if kind == "phone":  # consent rows have no country
        return phone_node(value, "US")
    return {"user_id": "customer:", "contact_id": "contact:"}[kind] + value


def some(*nodes: str | None) -> list[str]:
    return [n for n in nodes if n]


Row = dict[str, str]
# table: (record key, is the row usable, the identifier nodes it carries)
LINKS: dict[str, tuple[str, Callable[[Row], bool], Callable[[Row], list[str]]]] = {
    "crm/contacts": (
        "contact_id",
        lambda r: valid_timestamp(r["created_at"]) or valid_timestamp(r["updated_at"]),
        lambda r: some(
            "contact:" + r["contact_id"],
            email_node(r["email"]),
            phone_node(r["phone"], r["country"]),
        ),
    ),
    "shop/customers": (
        "customer_id",
        lambda r: valid_timestamp(r["created_at"]) or valid_timestamp(r["updated_at"]),
        lambda r: some(
            "customer:" + r["customer_id"],
            email_node(r["email"]),
            phone_node(r["phone"], r["country"]),
        ),
    ),
    "shop/orders": (
        "order_id",
        lambda r: valid_timestamp(r["ordered_at"]) and bool(AMOUNT.fullmatch(r["total"])),
        lambda r: some(r["customer_id"] and "customer:" + r["customer_id"], email_node(r["email"])),
    ),
    "events/tracks": (
        "message_id",
        lambda r: valid_timestamp(r["timestamp"]),
        lambda r: some(
            "anonymous:" + r["anonymous_id"], r["user_id"] and "customer:" + r["user_id"]
        ),
    ),
    "events/identifies": (
        "message_id",
        lambda r: valid_timestamp(r["timestamp"]),
        lambda r: some(
            r["anonymous_id"] and "anonymous:" + r["anonymous_id"],
            r["user_id"] and "customer:" + r["user_id"],
            email_node(r["email"]),
        ),
    ),
    "email/events": (
        "event_id",
        lambda r: valid_timestamp(r["occurred_at"]),
        lambda r: some(email_node(r["email"])),
    ),
    "support/tickets": (
        "ticket_id",
        lambda r: valid_timestamp(r["created_at"]),
        lambda r: some(email_node(r["requester_email"])),
    ),
    "consent/events": (
        "consent_event_id",
        lambda r: valid_timestamp(r["recorded_at"]),
        lambda r: some(consent_node(r["identifier_type"], r["identifier_value"])),
    ),
}


def oracle_components(root: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """Union-find of records and the real identifiers on their usable rows: the component
    of every record that has a usable row (a record with several rows, such as versions or
    duplicate deliveries, is one node)."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    usable = set()
    for table, (key, ok, nodes) in LINKS.items():
        for r in read_rows(root, table):
            if not ok(r):
                continue
            record = (table, r[key])
            usable.add(record)
            for node in nodes(r):
                parent[find(node)] = find(record)
    return {record: find(record) for record in usable}


def pairwise(truth: dict, predicted: dict) -> tuple[float, float]:
    def pairs(groups: collections.Counter) -> int:
        return sum(n * (n - 1) // 2 for n in groups.values())

    records = list(predicted)
    correct = pairs(collections.Counter((truth[r], predicted[r]) for r in records))
    true_pairs = pairs(collections.Counter(truth[r] for r in records))
    predicted_pairs = pairs(collections.Counter(predicted[r] for r in records))
    return correct / predicted_pairs, correct / true_pairs


def test_every_person_is_linkable_through_real_identifiers(tmp_path):
    out = tmp_path / "landing"
    generate_landing(1500, 11, out, "csv", out / "_truth")
    truth = {
        (r["table"], r["record_key"]): r["person_id"]
        for r in read_truth(out / "_truth" / "truth.csv")
        # requests are processed through erasure, not attributed to a person
        if r["table"] != "privacy/deletion_requests"
    }
    components = oracle_components(out)
    assert set(components) <= set(truth)
    # rows with unparseable timestamps or amounts cannot link; all else should
    assert len(components) >= 0.99 * len(truth)
    precision, recall = pairwise(truth, components)
    assert precision == 1.0
    assert recall >= 0.995, recall
