"""The landing contract: the tables raw data arrives in, their columns and keys.

Files live under the landing directory as `<source>/<table>/*.csv|*.parquet`, every column
text. This module is the one place Python code learns the layout from.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

LANDING_TABLES: dict[str, list[str]] = {
    "crm/contacts": [
        "contact_id", "email", "phone", "first_name", "last_name", "company", "job_title",
        "country", "city", "lifecycle_stage", "is_deleted", "created_at", "updated_at",
    ],
    "shop/customers": [
        "customer_id", "email", "phone", "first_name", "last_name", "country", "city",
        "accepts_email_marketing", "created_at", "updated_at",
    ],
    "shop/orders": [
        "order_id", "customer_id", "email", "ordered_at", "status", "subtotal", "discount",
        "total", "refunded_amount", "updated_at",
    ],
    "shop/order_items": [
        "order_id", "line_number", "sku", "product_name", "category", "quantity", "unit_price",
    ],
    "events/tracks": ["message_id", "anonymous_id", "user_id", "event", "timestamp", "properties"],
    "events/identifies": ["message_id", "anonymous_id", "user_id", "email", "timestamp", "traits"],
    "email/events": ["event_id", "email", "campaign_id", "event_type", "occurred_at"],
    "support/tickets": [
        "ticket_id", "requester_email", "channel", "priority", "status", "created_at",
        "solved_at", "satisfaction_score",
    ],
    "consent/events": [
        "consent_event_id", "identifier_type", "identifier_value", "purpose", "status",
        "recorded_at", "source",
    ],
    "privacy/deletion_requests": [
        "request_id", "identifier_type", "identifier_value", "requested_at",
    ],
}  # fmt: skip

LANDING_KEYS: dict[str, str] = {
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


def write_csv_landing(
    raw_dir: Path,
    rows_by_table: Mapping[str, Iterable[Mapping[str, str | None]]],
    file_name: str = "part-00000.csv",
) -> None:
    """Write one CSV file per landing table (header-only where no rows are given).

    Missing columns are written empty, so callers only name what matters to them.
    """
    for table, columns in LANDING_TABLES.items():
        folder = raw_dir / table
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        rows = list(rows_by_table.get(table, []))
        if path.exists() and not rows:
            continue
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                unknown = set(row) - set(columns)
                if unknown:
                    raise ValueError(f"{table}: unknown landing columns {sorted(unknown)}")
                writer.writerow({column: row.get(column) or "" for column in columns})


# Columns a file of the table may lack (read as empty). Every other column of the contract is
# required: a file without it would blank that field of every entity it carries.
LANDING_OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {
    table: frozenset() for table in LANDING_TABLES
}


def _column_name(field: str) -> str:
    return field.strip().lstrip("\ufeff").strip().strip('"').strip().lower()


def match_header(table: str, fields: list[str]) -> tuple[dict[str, int], list[str]]:
    """Contract column -> position in a file's header (names matched case-insensitively),
    and the header's fields that are not in the table's contract."""
    columns = set(LANDING_TABLES[table])
    mapping: dict[str, int] = {}
    unknown: list[str] = []
    for index, field in enumerate(fields):
        name = _column_name(field)
        if name in columns and name not in mapping:
            mapping[name] = index
        else:
            unknown.append(field)
    return mapping, unknown


def header_problem(table: str, fields: list[str]) -> str | None:
    """Why a file with this header cannot land in `table`, or None when it can.

    A header that is another table's (a file dropped in the wrong folder) or that lacks a
    required column is refused: read anyway, it would overwrite real values with nulls.
    Extra columns are ignored.
    """
    names = [_column_name(field) for field in fields]
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        return f"header repeats column(s) {', '.join(duplicates)}"
    mapping, unknown = match_header(table, fields)
    for other, other_columns in LANDING_TABLES.items():
        if other == table:
            continue
        other_matched = len(set(names) & set(other_columns))
        if other_matched > len(mapping) and other_matched >= len(names) - other_matched:
            return f"header is {other}'s, not {table}'s (a file in the wrong folder?)"
    missing = [
        column
        for column in LANDING_TABLES[table]
        if column not in mapping and column not in LANDING_OPTIONAL_COLUMNS[table]
    ]
    if missing and len(mapping) < len(names) / 2:
        return (
            f"foreign header: {len(unknown)} of {len(names)} column(s) are not in {table}'s "
            f"contract and it lacks {', '.join(missing)}"
        )
    if missing:
        return f"header lacks required column(s) {', '.join(missing)}"
    return None
