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
