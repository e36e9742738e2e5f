"""The real-time evaluator's copy of the last batch build, in its own DuckDB file.

The evaluator never keeps the warehouse open: the batch run needs its write lock. A snapshot
attaches the warehouse READ_ONLY, copies what real-time evaluation reads with set-based
`create table ... as select` (no row passes through Python), and detaches at once. A locked
warehouse (a build is writing) is not an error: `take_snapshot` answers None and the caller
tries again later.

What is copied, into schema `snap` of the state database:

    customer_identifiers   identifier_type, identifier_value -> customer_id (resolution)
    customers              customer_id, consent_<purpose>, email, phone, names, country,
                           is_erased
    customer_traits        every trait (the trait conditions read them as built)
    customer_events        the rows of int_segments__customer_events for the event names
                           the real-time segments count, within their longest window
    batch_memberships      (segment_name, customer_id) of every real-time segment's table
    build                  one row: the build's as_of and the marker it was taken for

A new successful build is noticed by `build_marker`: dbt's run_results.json of the pipeline
(written when a build ends) and the warehouse file's modification time, so a build that
leaves the same as_of (a pinned CDP_AS_OF) is still seen.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

STATE_FILE = "state.duckdb"
SNAPSHOT_SCHEMA = "snap"
WAREHOUSE_ALIAS = "cdp_batch_warehouse"

CUSTOMER_COLUMNS = (
    "customer_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "country",
    "consent_email_marketing",
    "consent_sms_marketing",
    "consent_ads_personalization",
    "consent_data_sale_sharing",
    "is_erased",
)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class EventNeed:
    """Which events the real-time segments count: names, and the longest window in days
    (None: all history, a condition without within_days or with since_last)."""

    names: frozenset[str]
    days: int | None


@dataclass(frozen=True)
class Snapshot:
    as_of: datetime
    marker: str
    taken_at: datetime


def events_needed(definitions: Iterable[Mapping[str, Any]]) -> EventNeed:
    """The event names and longest window of the rule trees (`rules` and `exclude`)."""
    names: set[str] = set()
    days: list[int | None] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if "event" in node:
                names.add(str(node["event"]))
                if node.get("since_last") is not None:
                    names.add(str(node["since_last"]))
                    days.append(None)
                else:
                    days.append(node.get("within_days"))
            for key in ("all", "any"):
                for child in node.get(key) or []:
                    walk(child)
            if "not" in node:
                walk(node["not"])

    for definition in definitions:
        walk(definition.get("rules"))
        walk(definition.get("exclude"))
    longest = None if (not days or any(day is None for day in days)) else max(days)
    return EventNeed(frozenset(names), longest)


def build_marker(warehouse_path: Path, dbt_target_path: Path | None) -> str:
    """What changes when a batch build finishes: run_results.json and the file's mtime."""
    parts = []
    for path in (
        (dbt_target_path / "run_results.json") if dbt_target_path else None,
        warehouse_path,
    ):
        if path is not None:
            try:
                parts.append(f"{path.name}:{os.stat(path).st_mtime_ns}")
            except FileNotFoundError:
                parts.append(f"{path.name}:-")
    return ";".join(parts)


def last_build_succeeded(dbt_target_path: Path | None) -> bool:
    """False only when dbt's last run_results.json records an error (a failed build is not
    snapshotted: the previous copy stays); True when there is none to read."""
    if dbt_target_path is None:
        return True
    try:
        results = json.loads((dbt_target_path / "run_results.json").read_text())
    except (FileNotFoundError, ValueError):
        return True
    return not any(
        result.get("status") in ("error", "runtime error") for result in results.get("results", [])
    )


def open_state(stream_dir: Path) -> duckdb.DuckDBPyConnection:
    stream_dir.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(stream_dir / STATE_FILE))


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text or "conflicting" in text


def _columns(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = connection.execute(
        "select column_name from information_schema.columns"
        " where table_catalog = ? and table_schema = ? and table_name = ?"
        " order by ordinal_position",
        [WAREHOUSE_ALIAS, schema, table],
    ).fetchall()
    return [name for (name,) in rows]


def _quoted(identifier: str) -> str:
    if not _IDENTIFIER.match(identifier):
        raise ValueError(f"not a plain identifier: {identifier!r}")
    return f'"{identifier}"'


def _build_as_of(connection: duckdb.DuckDBPyConnection) -> datetime | None:
    for schema, table in (("segments", "segment_memberships"), ("core", "customer_traits")):
        if _columns(connection, schema, table):
            (value,) = connection.execute(
                f"select max(as_of) from {WAREHOUSE_ALIAS}.{schema}.{table}"
            ).fetchone()
            if value is not None:
                return value
    return None


def take_snapshot(
    state: duckdb.DuckDBPyConnection,
    warehouse_path: Path,
    segments: Iterable[str],
    need: EventNeed,
    marker: str,
    now: datetime,
    *,
    before_copy: Callable[[datetime], None] | None = None,
    after_copy: Callable[[datetime], None] | None = None,
) -> Snapshot | None:
    """Copy the last build into `state`; None when the warehouse is locked or has no build.

    The warehouse is attached only for the copy. `before_copy(as_of)` and `after_copy(as_of)`
    run in the same transaction as the copy (the evaluator compares and reconciles there), so
    a crash leaves either the old snapshot and its consequences or the new one and its.
    """
    try:
        state.execute(f"attach '{_path_literal(warehouse_path)}' as {WAREHOUSE_ALIAS} (read_only)")
    except (duckdb.IOException, duckdb.ConnectionException, duckdb.BinderException) as error:
        if _is_lock_error(error):
            return None
        raise
    try:
        as_of = _build_as_of(state)
        if as_of is None or not _columns(state, "core", "customers"):
            return None
        state.execute("begin")
        try:
            if before_copy is not None:
                before_copy(as_of)
            _copy(state, list(segments), need, as_of)
            state.execute("delete from snap.build")
            state.execute(
                "insert into snap.build values (?, ?, ?)", [as_of, marker, now.replace(tzinfo=None)]
            )
            if after_copy is not None:
                after_copy(as_of)
            state.execute("commit")
        except Exception:
            state.execute("rollback")
            raise
        return Snapshot(as_of=as_of, marker=marker, taken_at=now)
    finally:
        state.execute(f"detach {WAREHOUSE_ALIAS}")


def _path_literal(path: Path) -> str:
    return str(Path(path).resolve()).replace("'", "''")


def _copy(
    state: duckdb.DuckDBPyConnection, segments: list[str], need: EventNeed, as_of: datetime
) -> None:
    source = WAREHOUSE_ALIAS
    state.execute(f"create schema if not exists {SNAPSHOT_SCHEMA}")
    state.execute(
        "create table if not exists snap.build"
        " (as_of timestamp, marker varchar, taken_at timestamp)"
    )
    state.execute(
        "create or replace table snap.customer_identifiers as"
        " select identifier_type, identifier_value, customer_id"
        f" from {source}.core.customer_identifiers"
    )
    state.execute(
        "create index if not exists snap_identifier_lookup"
        " on snap.customer_identifiers (identifier_type, identifier_value)"
    )
    available = set(_columns(state, "core", "customers"))
    selected = [
        _quoted(column) if column in available else f"null as {_quoted(column)}"
        for column in CUSTOMER_COLUMNS
    ]
    if "is_erased" not in available:
        selected[-1] = "false as is_erased"
    state.execute(
        "create or replace table snap.customers as"
        f" select {', '.join(selected)} from {source}.core.customers"
    )
    state.execute(
        "create or replace table snap.customer_traits as"
        f" select * from {source}.core.customer_traits"
    )
    names = sorted(need.names)
    window = (
        ""
        if need.days is None
        else f" and occurred_at > cast(? as timestamp) - interval {int(need.days)} day"
    )
    params: list[Any] = [names] + ([as_of] if need.days is not None else [])
    state.execute(
        "create or replace table snap.customer_events as"
        " select customer_id, event_name, occurred_at"
        f" from {source}.segments.int_segments__customer_events"
        f" where event_name in (select unnest(?::varchar[])){window}",
        params,
    )
    state.execute(
        "create or replace table snap.batch_memberships"
        " (segment_name varchar, customer_id varchar, is_holdout boolean)"
    )
    for segment in segments:
        if _columns(state, "segments", segment):
            state.execute(
                "insert into snap.batch_memberships"
                f" select '{segment}', customer_id, is_holdout"
                f" from {source}.segments.{_quoted(segment)}"
            )


def current_snapshot(state: duckdb.DuckDBPyConnection) -> Snapshot | None:
    try:
        row = state.execute("select as_of, marker, taken_at from snap.build").fetchone()
    except duckdb.CatalogException:
        return None
    return Snapshot(as_of=row[0], marker=row[1], taken_at=row[2]) if row else None
