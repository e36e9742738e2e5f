"""The sync state, rejections and run log, kept as tables in the warehouse itself.

Keeping them next to the data lets the delta be a single SQL query, and lets a person see
what every destination was last told with plain SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reverse_etl.warehouse import Warehouse

SCHEMA = "reverse_etl"
SYNC_STATE = f"{SCHEMA}.sync_state"
SYNC_RUNS = f"{SCHEMA}.sync_runs"
SYNC_REJECTIONS = f"{SCHEMA}.sync_rejections"

_DDL = (
    f"create schema if not exists {SCHEMA}",
    f"""
    create table if not exists {SYNC_STATE} (
        sync_name varchar not null,
        record_key varchar not null,
        payload_hash varchar not null,
        destination_id varchar,
        synced_at timestamp not null,
        primary key (sync_name, record_key)
    )
    """,
    f"""
    create table if not exists {SYNC_RUNS} (
        run_id varchar primary key,
        sync_name varchar not null,
        started_at timestamp not null,
        finished_at timestamp,
        status varchar not null,
        added integer not null default 0,
        changed integer not null default 0,
        removed integer not null default 0,
        failed integer not null default 0,
        skipped_consent integer not null default 0,
        skipped_holdout integer not null default 0,
        requests integer not null default 0,
        error varchar
    )
    """,
    f"""
    create table if not exists {SYNC_REJECTIONS} (
        sync_name varchar not null,
        record_key varchar not null,
        operation varchar not null,
        reason varchar,
        attempts integer not null,
        first_seen_at timestamp not null,
        last_seen_at timestamp not null,
        is_dead_letter boolean not null,
        primary key (sync_name, record_key, operation)
    )
    """,
)


def ensure_state_tables(warehouse: Warehouse) -> None:
    """Create the schema and tables if they are missing (idempotent)."""
    for statement in _DDL:
        warehouse.execute(statement)


@dataclass(frozen=True)
class DeadLetter:
    """A record the destination kept rejecting; it is left out of every run until replayed."""

    sync_name: str
    record_key: str
    operation: str
    reason: str | None
    attempts: int
    first_seen_at: datetime
    last_seen_at: datetime


def dead_letters(
    warehouse: Warehouse, sync_names: Sequence[str] = (), limit: int = 1000
) -> list[DeadLetter]:
    """The dead letters of the named syncs (all syncs by default), most recent first."""
    if not warehouse.relation_exists(SYNC_REJECTIONS):
        return []
    rows = warehouse.fetchall(
        f"""
        select sync_name, record_key, operation, reason, attempts, first_seen_at, last_seen_at
        from {SYNC_REJECTIONS}
        where is_dead_letter and (len($1::varchar[]) = 0 or list_contains($1, sync_name))
        order by last_seen_at desc, sync_name, record_key
        limit $2
        """,
        [list(sync_names), limit],
    )
    return [DeadLetter(*row) for row in rows]


def clear_dead_letters(warehouse: Warehouse, sync_name: str) -> int:
    """Forget a sync's dead letters, so the next run tries those records again.

    Returns how many were released.
    """
    if not warehouse.relation_exists(SYNC_REJECTIONS):
        return 0
    with warehouse.transaction() as transaction:
        [(count,)] = warehouse.fetchall(
            f"select count(*) from {SYNC_REJECTIONS} where sync_name = ? and is_dead_letter",
            [sync_name],
        )
        transaction.execute(
            f"delete from {SYNC_REJECTIONS} where sync_name = ? and is_dead_letter", [sync_name]
        )
    return int(count)
