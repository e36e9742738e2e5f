"""The real-time evaluator: the event log in, real-time segment memberships out.

A worker of `cdp stream` (`step()` in a loop on a thread, `close()` at the end). Each step:

1. takes a new snapshot of the warehouse when a newer batch build is there
   (`cdp.stream.snapshot`), and reconciles the real-time memberships with the build's;
2. reads the next events from the event log, from its committed offset;
3. resolves each to a customer_id: the snapshot's customer_identifiers, plus the links the
   stream itself saw (an identify or alias that ties a new anonymous id to a known user id
   or email makes that person's next events count at once). Someone unknown gets a
   provisional id (`rt-...`), merged into the known person when an identify names them, and
   reconciled by the next snapshot;
4. keeps the events the real-time segments count (deduplicated by messageId, since the log
   is delivered at least once), and re-evaluates only the customers the events touched, plus
   those whose next time-driven change (an event leaving a window) is due;
5. records who entered and who exited (`realtime_memberships`, a change log) and commits the
   log offset in the same transaction as those effects, so a crash replays the events
   without doubling anything.

Tables of the state database (besides the snapshot's `snap` schema):

    rt.offsets               the committed offset of the event log
    rt.links                 identifier -> customer_id learned from the stream
    rt.provisional           ids given to people the snapshot does not know
    rt.stream_events         counted events seen on the stream (message_id, customer_id,
                             event_name, occurred_at, received_at, log_offset)
    rt.current_members       (segment_name, customer_id, is_holdout, entered_at)
    rt.due                   each customer's next time-driven change per segment
    realtime_memberships     change log: segment_name, customer_id, change (entered |
                             exited), changed_at, reason (event | time | snapshot |
                             reconciliation)
    realtime_reconciliations differences found when a build arrived: segment_name,
                             customer_id, change (missing_in_stream | extra_in_stream),
                             as_of, reconciled_at
    segments.<segment>       views the real-time syncs read (cdp.stream.syncs)
    core.customers           the erasure relation of those syncs

The rules are the segment macro's, compiled through dbt (`cdp.stream.rt_rules`); the time
they are evaluated at is the `cdp_as_of` variable, which the injected clock sets.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdp.pipeline import Settings
from cdp.stream.eventlog import EventLog, LoggedEvent
from cdp.stream.rt_rules import CompiledRules, RealtimeRule
from cdp.stream.snapshot import (
    EventNeed,
    Snapshot,
    build_marker,
    current_snapshot,
    last_build_succeeded,
    open_state,
    take_snapshot,
)

log = logging.getLogger(__name__)

CONSUMER = "evaluator"
LOG_DIR = "log"
PROVISIONAL_PREFIX = "rt-"
_PROVISIONAL_NAMESPACE = uuid.UUID("5f0c8b52-9d8e-4d5e-9a3c-6b1f3f2a7c10")

# Segment calls that are counted as track events of a fixed name.
NAMED_CALLS = {"page": "Page Viewed", "screen": "Screen Viewed"}
# A completed order seen on the stream also counts as a Purchase (the batch derives Purchase
# from paid shop orders; the next build reconciles any difference).
PURCHASE_EVENTS = {"Order Completed": "Purchase"}

_SCHEMA = [
    "create schema if not exists rt",
    "create schema if not exists segments",
    "create schema if not exists core",
    "create table if not exists rt.offsets"
    " (consumer varchar primary key, next_offset bigint not null)",
    "create table if not exists rt.links (identifier_type varchar, identifier_value varchar,"
    " customer_id varchar not null, linked_at timestamp,"
    " primary key (identifier_type, identifier_value))",
    "create table if not exists rt.provisional"
    " (customer_id varchar primary key, created_at timestamp)",
    "create table if not exists rt.stream_events (message_id varchar primary key,"
    " customer_id varchar not null, event_name varchar not null, occurred_at timestamp not null,"
    " received_at timestamp, log_offset bigint)",
    "create table if not exists rt.current_members (segment_name varchar, customer_id varchar,"
    " is_holdout boolean, entered_at timestamp, primary key (segment_name, customer_id))",
    "create table if not exists rt.due (segment_name varchar, customer_id varchar,"
    " due_at timestamp, primary key (segment_name, customer_id))",
    "create sequence if not exists rt.change_ids",
    "create table if not exists realtime_memberships"
    " (change_id bigint default nextval('rt.change_ids'), segment_name varchar,"
    " customer_id varchar, change varchar, changed_at timestamp, reason varchar)",
    "create table if not exists realtime_reconciliations (segment_name varchar,"
    " customer_id varchar, change varchar, as_of timestamp, reconciled_at timestamp)",
]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def parse_time(value: Any) -> datetime | None:
    """A Segment timestamp (ISO 8601) as naive UTC, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return _naive_utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        return None


def provisional_id(kind: str, value: str) -> str:
    """The id of someone the build does not know, from their first identifier: the same on
    every evaluator (DuckDB here, Spark in cdp.stream.spark_evaluator)."""
    return PROVISIONAL_PREFIX + uuid.uuid5(_PROVISIONAL_NAMESPACE, f"{kind}:{value}").hex[:20]


def identifiers_of(message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A message's identifiers, strongest first: the user id (the shop's customer id, as in
    the landing contract), the email, the anonymous id (alias: the previous id)."""
    found: list[tuple[str, str]] = []
    user_id = message.get("userId")
    if user_id not in (None, ""):
        found.append(("shop_customer_id", str(user_id)))
    traits = message.get("traits") if isinstance(message.get("traits"), Mapping) else {}
    context = message.get("context") if isinstance(message.get("context"), Mapping) else {}
    context_traits = context.get("traits") if isinstance(context.get("traits"), Mapping) else {}
    email = traits.get("email") or context_traits.get("email") or message.get("email")
    if isinstance(email, str) and email.strip():
        found.append(("email", email.strip().lower()))
    for key in ("anonymousId", "previousId"):
        value = message.get(key)
        if value not in (None, ""):
            found.append(("anonymous_id", str(value)))
    return list(dict.fromkeys(found))


def counted_events(kind: str, message: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(message id, event name) of what a message counts as."""
    message_id = str(message.get("messageId"))
    if kind == "track":
        name = message.get("event")
        if not isinstance(name, str) or not name:
            return []
        events = [(message_id, name)]
        if name in PURCHASE_EVENTS:
            events.append((f"{message_id}:{PURCHASE_EVENTS[name]}", PURCHASE_EVENTS[name]))
        return events
    if kind in NAMED_CALLS:
        return [(message_id, NAMED_CALLS[kind])]
    return []


class Evaluator(CompiledRules):
    """See the module docstring. `clock` gives the evaluation time (tests inject one)."""

    name = CONSUMER

    def __init__(
        self,
        settings: Settings,
        stream_dir: Path,
        *,
        log_dir: Path | None = None,
        clock: Callable[[], datetime] = _utc_now,
        rules: Mapping[str, RealtimeRule] | None = None,
        batch_size: int = 5000,
        snapshot_retry_seconds: float = 5.0,
    ) -> None:
        self.settings = settings
        self.stream_dir = Path(stream_dir)
        self.log = EventLog(Path(log_dir) if log_dir else self.stream_dir / LOG_DIR)
        self.clock = clock
        self.batch_size = batch_size
        self.snapshot_retry_seconds = snapshot_retry_seconds
        # compiled on first use, on the worker's thread: `cdp stream` answers events meanwhile
        self._rules: dict[str, RealtimeRule] | None = dict(rules) if rules is not None else None
        self._need: EventNeed | None = None
        self.db = open_state(self.stream_dir)
        for statement in _SCHEMA:
            self.db.execute(statement)
        self._snapshot: Snapshot | None = current_snapshot(self.db)
        self._last_attempt: datetime | None = None
        self.last_evaluated_at: datetime | None = None
        self.skipped_events = 0
        # for the heartbeat (read from another thread: plain values, never self.db)
        self._committed = self.committed_offset()
        self.last_step_at: datetime | None = None
        self._changes: list[tuple[str, int, int, str]] = []
        self._pending: dict[str, list[Any]] = {}  # counted events of the step, by message id
        self._links: dict[tuple[str, str], str] = {}  # the step's identifiers: stream links
        self._known: dict[tuple[str, str], str] = {}  # ... and the build's
        if self._snapshot is not None:
            self._create_views()

    # The loop ------------------------------------------------------------------------------

    def step(self) -> bool:
        """One round: a new snapshot if there is one, then the next events and the due
        changes. True when anything was done (the caller sleeps a little otherwise)."""
        worked = self._step()
        self.last_step_at = datetime.now(UTC)  # wall time, whatever the injected clock says
        return worked

    def _step(self) -> bool:
        self._changes = []
        worked = self._work()
        for name, entered, exited, reason in self._changes:  # committed; counts, never who
            log.info("%s: %d entered, %d exited (%s)", name, entered, exited, reason)
        return worked

    def _work(self) -> bool:
        now = _naive_utc(self.clock())
        worked = self._refresh_snapshot(now)
        if self._snapshot is None:
            return worked
        if worked:  # a snapshot takes seconds: events may have arrived since `now`
            now = _naive_utc(self.clock())
        offset = self.committed_offset()
        events = list(self.log.read(offset, limit=self.batch_size))
        self._set_as_of(now)
        (due,) = self.db.execute("select count(*) from rt.due where due_at <= ?", [now]).fetchone()
        if not events and not due:
            return worked
        self.db.execute("begin")
        try:
            touched: set[str] = set()
            self._prefetch(events)
            for event in events:
                self._apply(event, touched)
            self._insert_pending_events()
            self._touch(touched, due_before=now)
            self._evaluate(now, "event" if events else "time")
            if events:
                self._commit_offset(events[-1].offset + 1)
            self.db.execute("commit")
        except Exception:
            self.db.execute("rollback")
            raise
        if events:
            self._committed = events[-1].offset + 1
        self.last_evaluated_at = now
        return True

    def close(self) -> None:
        self.log.close()
        self.db.close()

    def committed_offset(self) -> int:
        row = self.db.execute(
            "select next_offset from rt.offsets where consumer = ?", [CONSUMER]
        ).fetchone()
        return row[0] if row else 0

    def _commit_offset(self, offset: int) -> None:
        self.db.execute(
            "insert into rt.offsets values (?, ?) on conflict (consumer)"
            " do update set next_offset = excluded.next_offset",
            [CONSUMER, offset],
        )

    def _set_as_of(self, as_of: datetime) -> None:
        self.db.execute(f"set variable cdp_as_of = timestamp '{as_of:%Y-%m-%d %H:%M:%S.%f}'")

    # Events and identity -------------------------------------------------------------------

    def _apply(self, event: LoggedEvent, touched: set[str]) -> None:
        message = event.message
        if not isinstance(message, Mapping):
            self.skipped_events += 1
            return
        identifiers = identifiers_of(message)
        if not identifiers:
            self.skipped_events += 1
            return
        customer_id = self._resolve(identifiers, touched)
        counted = [
            (message_id, name)
            for message_id, name in counted_events(event.type, message)
            if name in self.need.names
        ]
        if not counted:
            return
        occurred_at = parse_time(message.get("timestamp"))
        if occurred_at is None:
            self.skipped_events += 1
            log.warning("event at offset %s has no readable timestamp; not counted", event.offset)
            return
        received_at = _naive_utc(event.received_at)
        for message_id, name in counted:  # the first of a redelivered message counts
            self._pending.setdefault(
                message_id, [message_id, customer_id, name, occurred_at, received_at, event.offset]
            )
        touched.add(customer_id)

    def _prefetch(self, events: list[LoggedEvent]) -> None:
        """Who the identifiers of a step's events are, in two set-based queries: the links the
        stream made, then the build's identifiers (a lookup per event would scan them)."""
        self._pending: dict[str, list[Any]] = {}
        self._links: dict[tuple[str, str], str] = {}
        self._known: dict[tuple[str, str], str] = {}
        keys = sorted(
            {
                key
                for event in events
                if isinstance(event.message, Mapping)
                for key in identifiers_of(event.message)
            }
        )
        if not keys:
            return
        wanted = (
            "select unnest(?::varchar[]) as identifier_type,"
            " unnest(?::varchar[]) as identifier_value"
        )
        params = [[kind for kind, _ in keys], [value for _, value in keys]]
        for kind, value, customer in self.db.execute(
            f"select wanted.identifier_type, wanted.identifier_value, links.customer_id"
            f" from ({wanted}) as wanted inner join rt.links as links"
            f" using (identifier_type, identifier_value)",
            params,
        ).fetchall():
            self._links[(kind, value)] = customer
        for kind, value, customer in self.db.execute(
            f"select wanted.identifier_type, wanted.identifier_value, min(known.customer_id)"
            f" from ({wanted}) as wanted inner join snap.customer_identifiers as known"
            f" using (identifier_type, identifier_value) group by 1, 2",
            params,
        ).fetchall():
            self._known[(kind, value)] = customer

    def _insert_pending_events(self) -> None:
        """The step's counted events in one insert (a message already counted stays as it
        was)."""
        rows = list(self._pending.values())
        self._pending = {}
        if not rows:
            return
        columns = list(zip(*rows, strict=True))
        self.db.execute(
            "insert into rt.stream_events select unnest(?::varchar[]), unnest(?::varchar[]),"
            " unnest(?::varchar[]), unnest(?::timestamp[]), unnest(?::timestamp[]),"
            " unnest(?::bigint[]) on conflict do nothing",
            [list(column) for column in columns],
        )

    def _lookup(self, kind: str, value: str) -> str | None:
        """The customer of an identifier: a link the stream made, else the build's."""
        key = (kind, value)
        return self._links[key] if key in self._links else self._known.get(key)

    def _is_provisional(self, customer_id: str) -> bool:
        return customer_id.startswith(PROVISIONAL_PREFIX)

    def _resolve(self, identifiers: list[tuple[str, str]], touched: set[str]) -> str:
        known = [(kind, value, self._lookup(kind, value)) for kind, value in identifiers]
        people = [customer for _, _, customer in known if customer is not None]
        settled = [customer for customer in people if not self._is_provisional(customer)]
        if settled:
            customer_id = settled[0]
        elif people:
            customer_id = people[0]
        else:
            kind, value = identifiers[0]
            customer_id = provisional_id(kind, value)
            self.db.execute(
                "insert into rt.provisional values (?, ?) on conflict do nothing",
                [customer_id, _naive_utc(self.clock())],
            )
        for kind, value, customer in known:
            if customer == customer_id:
                continue
            if customer is not None and self._is_provisional(customer):
                self._merge(customer, customer_id)
                touched.update((customer, customer_id))
            elif customer is None:
                self._link(kind, value, customer_id)
                touched.add(customer_id)
            # Two different known people: the batch identity graph decides, not one event.
        return customer_id

    def _link(self, kind: str, value: str, customer_id: str) -> None:
        self._links[(kind, value)] = customer_id
        self.db.execute(
            "insert into rt.links values (?, ?, ?, ?)"
            " on conflict (identifier_type, identifier_value)"
            " do update set customer_id = excluded.customer_id, linked_at = excluded.linked_at",
            [kind, value, customer_id, _naive_utc(self.clock())],
        )

    def _merge(self, provisional: str, customer_id: str) -> None:
        """Everything a provisional person did now belongs to `customer_id`."""
        self.db.execute(
            "update rt.stream_events set customer_id = ? where customer_id = ?",
            [customer_id, provisional],
        )
        self.db.execute(
            "update rt.links set customer_id = ? where customer_id = ?", [customer_id, provisional]
        )
        self.db.execute("delete from rt.provisional where customer_id = ?", [provisional])
        for key, customer in self._links.items():
            if customer == provisional:
                self._links[key] = customer_id
        for row in self._pending.values():
            if row[1] == provisional:
                row[1] = customer_id

    # Evaluation ----------------------------------------------------------------------------

    def _touch(self, customers: Iterable[str], due_before: datetime | None = None) -> None:
        self.db.execute("create or replace temp table rt_touched (customer_id varchar)")
        chosen = sorted(set(customers))
        if chosen:
            self.db.execute("insert into rt_touched select unnest(?::varchar[])", [chosen])
        if due_before is not None:
            self.db.execute(
                "insert into rt_touched select distinct customer_id from rt.due where due_at <= ?",
                [due_before],
            )

    def _touch_sql(self, sql: str, params: list[Any] | None = None) -> None:
        self.db.execute(
            f"create or replace temp table rt_touched as select distinct customer_id from ({sql})",
            params or [],
        )

    def _evaluate(self, now: datetime, reason: str) -> None:
        """Re-evaluate the customers in rt_touched for every real-time segment."""
        self._set_as_of(now)
        for name, rule in self.rules.items():
            self.db.execute(f"create or replace temp table rt_result as {rule.sql}")
            (entered,) = self.db.execute(
                "insert into realtime_memberships"
                " (segment_name, customer_id, change, changed_at, reason)"
                " select ?, result.customer_id, 'entered', ?, ? from rt_result as result"
                " where not exists (select 1 from rt.current_members as member"
                "   where member.segment_name = ? and member.customer_id = result.customer_id)",
                [name, now, reason, name],
            ).fetchone()
            (exited,) = self.db.execute(
                "insert into realtime_memberships"
                " (segment_name, customer_id, change, changed_at, reason)"
                " select ?, member.customer_id, 'exited', ?, ? from rt.current_members as member"
                " where member.segment_name = ?"
                "   and member.customer_id in (select customer_id from rt_touched)"
                "   and member.customer_id not in (select customer_id from rt_result)",
                [name, now, reason, name],
            ).fetchone()
            if entered or exited:
                self._changes.append((name, entered, exited, reason))
            self.db.execute(
                "delete from rt.current_members where segment_name = ?"
                " and customer_id in (select customer_id from rt_touched)"
                " and customer_id not in (select customer_id from rt_result)",
                [name],
            )
            self.db.execute(
                "insert into rt.current_members"
                " select ?, customer_id, is_holdout, ? from rt_result"
                " on conflict do update set is_holdout = excluded.is_holdout",
                [name, now],
            )
            self._schedule(rule, now, everyone=False)

    def _schedule(self, rule: RealtimeRule, now: datetime, everyone: bool) -> None:
        """The next time an event of a touched customer (or of everyone) leaves a window, or
        a stream event stamped later than `now` (a client clock ahead, an event that arrived
        while a step was under way) comes into it."""
        scope = "" if everyone else " and customer_id in (select customer_id from rt_touched)"
        if everyone:
            self.db.execute("delete from rt.due where segment_name = ?", [rule.name])
        else:
            self.db.execute(
                "delete from rt.due where segment_name = ?"
                " and customer_id in (select customer_id from rt_touched)",
                [rule.name],
            )
        parts = [
            "select customer_id, occurred_at as due_at from rt.stream_events"
            f" where occurred_at > ?{scope}"
        ]
        params: list[Any] = [now]
        for window in rule.windows:
            parts.append(
                "select customer_id, occurred_at + to_days(?) as due_at from rt.events_all"
                f" where event_name = ? and occurred_at + to_days(?) > ?{scope}"
            )
            params += [window.days, window.event_name, window.days, now]
        self.db.execute(
            "insert into rt.due select ?, customer_id, min(due_at) from ("
            + " union all ".join(parts)
            + ") group by customer_id",
            [rule.name, *params],
        )

    # Snapshots and reconciliation ----------------------------------------------------------

    def _create_views(self) -> None:
        self.db.execute(
            "create or replace view rt.traits_all as select * from snap.customer_traits"
            " union all by name select customer_id, false as is_erased from rt.provisional"
        )
        self.db.execute(
            "create or replace view rt.customers_all as select * from snap.customers"
            " union all by name select customer_id, false as is_erased from rt.provisional"
        )
        # As the build, only what happened up to the as_of counts.
        self.db.execute(
            "create or replace view rt.events_all as select * from ("
            " select customer_id, event_name, occurred_at from snap.customer_events"
            " union all select customer_id, event_name, occurred_at from rt.stream_events"
            ") where occurred_at <= getvariable('cdp_as_of')"
        )
        self.db.execute("create or replace view core.customers as select * from snap.customers")
        for name, rule in self.rules.items():
            consent = f"consent_{rule.consent_purpose}"
            self.db.execute(
                f'create or replace view segments."{name}" as select'
                " member.customer_id, member.segment_name, member.is_holdout,"
                f" coalesce(customer.{consent}, false) as has_consent,"
                " customer.email, customer.phone, customer.first_name, customer.last_name,"
                " customer.country"
                " from rt.current_members as member"
                " inner join rt.customers_all as customer"
                " on member.customer_id = customer.customer_id"
                f" where member.segment_name = '{name}'"
            )

    def _refresh_snapshot(self, now: datetime) -> bool:
        marker = build_marker(self.settings.duckdb_path, self.settings.dbt_target_path)
        if self._snapshot is not None and marker == self._snapshot.marker:
            return False
        if self._last_attempt is not None and (
            (now - self._last_attempt).total_seconds() < self.snapshot_retry_seconds
        ):
            return False
        self._last_attempt = now
        if not Path(self.settings.duckdb_path).exists():
            return False  # nothing built yet: the rules are not compiled either
        if not last_build_succeeded(self.settings.dbt_target_path):
            return False
        first = self._snapshot is None
        snapshot = take_snapshot(
            self.db,
            self.settings.duckdb_path,
            self.rules,
            self.need,
            marker,
            now,
            before_copy=None if first else self._memberships_at,
            after_copy=lambda as_of: self._apply_snapshot(as_of, now, first),
        )
        if snapshot is None:
            return False
        self._snapshot = snapshot
        log.info("snapshot of the build as of %s taken", snapshot.as_of)
        return True

    def _memberships_at(self, as_of: datetime) -> None:
        """The real-time memberships at the new build's as_of, from the old snapshot and the
        stream (temp table rt_at_as_of), for the comparison with the build."""
        self._touch_sql(
            "select customer_id from rt.current_members"
            " union all select customer_id from snap.batch_memberships"
            " union all select customer_id from rt.stream_events"
        )
        self._set_as_of(_naive_utc(as_of))
        self.db.execute(
            "create or replace temp table rt_at_as_of (segment_name varchar, customer_id varchar)"
        )
        for name, rule in self.rules.items():
            self.db.execute(
                f"insert into rt_at_as_of select ?, customer_id from ({rule.sql})", [name]
            )

    def _apply_snapshot(self, as_of: datetime, now: datetime, first: bool) -> None:
        as_of = _naive_utc(as_of)
        self._create_views()
        if not first:
            self.db.execute(
                "insert into realtime_reconciliations"
                " select batch.segment_name, batch.customer_id, 'missing_in_stream', ?, ?"
                " from snap.batch_memberships as batch"
                " where not exists (select 1 from rt_at_as_of as stream"
                "   where stream.segment_name = batch.segment_name"
                "   and stream.customer_id = batch.customer_id)"
                " union all"
                " select stream.segment_name, stream.customer_id, 'extra_in_stream', ?, ?"
                " from rt_at_as_of as stream"
                " where not exists (select 1 from snap.batch_memberships as batch"
                "   where stream.segment_name = batch.segment_name"
                "   and stream.customer_id = batch.customer_id)",
                [as_of, now, as_of, now],
            )
        # What the build saw is the build's now; provisional people it knows are moved.
        self.db.execute("delete from rt.stream_events where occurred_at <= ?", [as_of])
        self.db.execute(
            "create or replace temp table rt_moves as"
            " select link.customer_id as provisional_id, min(known.customer_id) as customer_id"
            " from rt.links as link inner join snap.customer_identifiers as known"
            "   on link.identifier_type = known.identifier_type"
            "   and link.identifier_value = known.identifier_value"
            " where link.customer_id in (select customer_id from rt.provisional)"
            " group by link.customer_id"
        )
        self.db.execute(
            "update rt.stream_events set customer_id = moves.customer_id from rt_moves as moves"
            " where stream_events.customer_id = moves.provisional_id"
        )
        self.db.execute(
            "update rt.links set customer_id = moves.customer_id from rt_moves as moves"
            " where links.customer_id = moves.provisional_id"
        )
        self.db.execute(
            "delete from rt.provisional where customer_id in (select provisional_id from rt_moves)"
        )
        self.db.execute(
            "delete from rt.links where exists (select 1 from snap.customer_identifiers as known"
            " where known.identifier_type = links.identifier_type"
            " and known.identifier_value = links.identifier_value)"
        )
        self._touch_sql(
            "select customer_id from rt.current_members"
            " union all select customer_id from snap.batch_memberships"
            " union all select customer_id from rt.stream_events"
            " union all select provisional_id from rt_moves"
        )
        self._evaluate(now, "snapshot" if first else "reconciliation")
        self._set_as_of(now)
        for rule in self.rules.values():
            self._schedule(rule, now, everyone=True)

    def health(self) -> dict[str, Any]:
        """For the heartbeat (cdp.stream.health): counters only, safe from another thread."""
        snapshot = self._snapshot
        return {
            "committed_offset": self._committed,
            "last_step_at": self.last_step_at.isoformat() if self.last_step_at else None,
            "last_evaluated_at": (
                self.last_evaluated_at.isoformat() if self.last_evaluated_at else None
            ),
            "snapshot_as_of": str(snapshot.as_of) if snapshot else None,
            "waiting_for_build": snapshot is None,
            "skipped_events": self.skipped_events,
        }
