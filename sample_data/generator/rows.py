"""Landing table layouts and the formatters that turn per-row arrays into messy text rows.

Every column is text. Formatters take numpy arrays describing the rows (whose person, which
time, which status...) and return the columns; the initial load and the drops decide which
rows to make and reuse the same formatting.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

import sample_data.generator.reference as ref
import sample_data.generator.vec as vec
from cdp.landing import LANDING_KEYS, LANDING_TABLES
from sample_data.generator.population import CITY_NAMES, People

SCHEMAS: dict[str, list[str]] = LANDING_TABLES
TABLES = list(SCHEMAS)
KEYS: dict[str, str] = LANDING_KEYS
# exact duplicate deliveries
DUPLICATE_RATES = {
    "crm/contacts": 0.01,
    "events/tracks": 0.02,
    "events/identifies": 0.02,
    "email/events": 0.01,
}


@dataclass
class Rows:
    """Some rows of one table, with a sort key and the ground truth for their record keys."""

    cols: dict[str, pa.Array]
    sort: np.ndarray
    truth_keys: pa.Array
    truth_pidx: np.ndarray

    @property
    def n(self) -> int:
        return int(self.sort.size)


def empty_rows(table: str) -> Rows:
    cols = {c: pa.array([], type=vec.STR) for c in SCHEMAS[table]}
    return Rows(cols, np.zeros(0, np.int64), pa.array([], type=vec.STR), np.zeros(0, np.int64))


def combine(table: str, parts: list[Rows]) -> Rows:
    parts = [p for p in parts if p.n] or [empty_rows(table)]
    if len(parts) == 1:
        return parts[0]
    cols = {c: pa.concat_arrays([p.cols[c] for p in parts]) for c in SCHEMAS[table]}
    return Rows(
        cols,
        np.concatenate([p.sort for p in parts]),
        pa.concat_arrays([p.truth_keys for p in parts]),
        np.concatenate([p.truth_pidx for p in parts]),
    )


def finalize(table: str, rows: Rows, rng: np.random.Generator, at_least: int) -> pa.Table:
    """Add duplicate deliveries and order the rows by time."""
    t = pa.table({c: rows.cols[c] for c in SCHEMAS[table]})
    n = t.num_rows
    index = np.arange(n)
    key = rows.sort
    rate = DUPLICATE_RATES.get(table, 0.0)
    if rate and n:
        dups = np.flatnonzero(vec.sample_mask(rng, n, rate, at_least))
        redelivered = key[dups] + rng.integers(ref.SECOND, 6 * ref.HOUR, dups.size)
        index = np.concatenate([index, dups])
        key = np.concatenate([key, redelivered])
    return t.take(vec.ints(index[np.argsort(key, kind="stable")]))


# --- shared value builders -----------------------------------------------------------------------

_COUNTRY_CODES = vec.strings(ref.COUNTRIES)
_STAGES = vec.strings(ref.LIFECYCLE_STAGES)
_JOBS = vec.strings(ref.JOB_TITLES)
_COMPANIES = vec.strings(ref.COMPANIES)
_DELETED = vec.strings(ref.DELETED_FALSE + ref.DELETED_TRUE)
_ACCEPTS = vec.strings(ref.ACCEPTS_MARKETING)
_ORDER_STATUSES = vec.strings(ref.ORDER_STATUSES)
_EMAIL_TYPES = vec.strings(ref.EMAIL_EVENT_TYPES)
_TRACK_EVENTS = vec.strings(ref.TRACK_EVENTS)
_CHANNELS = vec.strings(ref.TICKET_CHANNELS)
_PRIORITIES = vec.strings(ref.TICKET_PRIORITIES)
_TICKET_STATUSES = vec.strings(ref.TICKET_STATUSES)
_PURPOSES = vec.strings(ref.CONSENT_PURPOSES)
_CONSENT_STATUSES = vec.strings(ref.CONSENT_STATUSES)
_SOURCES = vec.strings(ref.CONSENT_SOURCES)
_ID_TYPES = vec.strings(ref.IDENTIFIER_TYPES)

_PRODUCTS = [
    (f"{prefix}-{1001 + i + 100 * ci}", name, category, price)
    for ci, (category, (prefix, items)) in enumerate(ref.CATALOG.items())
    for i, (name, price) in enumerate(items)
]
SKUS = vec.strings([p[0] for p in _PRODUCTS])
PRODUCT_NAMES = vec.strings([p[1] for p in _PRODUCTS])
CATEGORIES = vec.strings([p[2] for p in _PRODUCTS])
PRODUCT_PRICES = vec.money(np.array([p[3] for p in _PRODUCTS]))


def optional(table: pa.Array, idx: np.ndarray) -> pa.Array:
    """table[idx], null where idx < 0."""
    return vec.null_where(vec.lookup(table, np.maximum(idx, 0)), idx < 0)


def emails(
    rng: np.random.Generator,
    P: People,
    pidx: np.ndarray,
    ts: np.ndarray,
    at_least: int,
    placeholder_rate: float = 0.0,
    spoil: np.ndarray | None = None,
) -> pa.Array:
    """The address each person used at ts, messy. Placeholders (about placeholder_rate of the
    rows) and unparseable values (about 0.5%) only go on the rows where `spoil` is true: rows
    that stay linked through another identifier. spoil=None: any row."""
    e = P.email_at(pidx, ts)
    if placeholder_rate:
        eligible = ~P.changer[pidx]
        if spoil is not None:
            eligible &= spoil
        e = vec.placeholder_emails(rng, e, placeholder_rate, at_least, eligible)
    return vec.messy_emails(rng, e, at_least=at_least, invalid_ok=spoil)


def phones(
    rng: np.random.Generator,
    P: People,
    pidx: np.ndarray,
    present: np.ndarray,
    at_least: int,
    placeholder_rate: float = 0.0,
    international: bool = False,
    spoil: np.ndarray | None = None,
) -> pa.Array:
    """Each person's number in a local format where present; placeholders and garbage only
    on the rows where `spoil` is true (None: any row)."""
    p = vec.format_phones(rng, P.country[pidx], P.phone.take(vec.ints(pidx)), international)
    p = vec.null_where(p, ~present)
    return vec.messy_phones(
        rng, p, placeholder_rate=placeholder_rate, at_least=at_least, eligible=spoil
    )


def identifier_values(
    rng: np.random.Generator,
    P: People,
    pidx: np.ndarray,
    id_type: np.ndarray,
    ts: np.ndarray,
    customer_id_of: pa.Array,
    contact_id_of: pa.Array,
    at_least: int,
    spoil: bool = True,
) -> pa.Array:
    """The value of an identifier of the given type for each row's person. spoil=False: no
    unparseable values (the identifier is all that ties the row to its person)."""
    n = pidx.size
    parts = []
    sel = np.flatnonzero(id_type == 0)
    ok = None if spoil else np.zeros(sel.size, bool)
    parts.append((sel, emails(rng, P, pidx[sel], ts[sel], at_least, spoil=ok)))
    sel = np.flatnonzero(id_type == 1)
    present = np.ones(sel.size, bool)
    ok = None if spoil else np.zeros(sel.size, bool)
    parts.append((sel, phones(rng, P, pidx[sel], present, 0, international=True, spoil=ok)))
    sel = np.flatnonzero(id_type == 2)
    parts.append((sel, customer_id_of.take(vec.ints(pidx[sel]))))
    sel = np.flatnonzero(id_type == 3)
    parts.append((sel, contact_id_of.take(vec.ints(pidx[sel]))))
    return vec.assemble(n, parts)


def json_names(P: People, pidx: np.ndarray) -> pa.Array:
    idx = vec.ints(pidx)
    return vec.cat(
        '{"first_name": "',
        P.first_name.take(idx),
        '", "last_name": "',
        P.last_name.take(idx),
        '"}',
    )


def version_times(
    rng: np.random.Generator,
    created: np.ndarray,
    updated: np.ndarray,
    shapes: tuple[float, ...],
    at_least: int,
) -> dict[str, pa.Array]:
    """created_at and updated_at of a version, never both unparseable (either one dates it)."""
    created_at = vec.timestamps(rng, created, shapes, at_least=at_least)
    eligible = vec.readable(created_at)
    updated_at = vec.timestamps(rng, updated, shapes, at_least=at_least, eligible=eligible)
    return {"created_at": created_at, "updated_at": updated_at}


# --- formatters --------------------------------------------------------------------------------


def contact_rows(
    rng: np.random.Generator,
    P: People,
    at_least: int,
    *,
    pidx: np.ndarray,
    contact_id: pa.Array,
    email_ts: np.ndarray,
    stage: np.ndarray,
    job: np.ndarray,
    company: np.ndarray,
    city: np.ndarray,
    deleted: np.ndarray,
    has_phone: np.ndarray,
    spoil_email: np.ndarray,
    spoil_phone: np.ndarray,
    created: np.ndarray,
    updated: np.ndarray,
) -> dict[str, pa.Array]:
    n = pidx.size
    idx = vec.ints(pidx)
    variant = vec.choice(rng, n, ref.DELETED_VARIANT_P) + np.where(deleted, 3, 0)
    return {
        "contact_id": contact_id,
        "email": emails(rng, P, pidx, email_ts, at_least, 0.02, spoil_email),
        "phone": phones(rng, P, pidx, has_phone, at_least, 0.02, spoil=spoil_phone),
        "first_name": vec.messy_names(rng, P.first_name.take(idx)),
        "last_name": vec.messy_names(rng, P.last_name.take(idx)),
        "company": optional(_COMPANIES, company),
        "job_title": optional(_JOBS, job),
        "country": vec.lookup(_COUNTRY_CODES, P.country[pidx]),
        "city": vec.lookup(CITY_NAMES, city),
        "lifecycle_stage": vec.lookup(_STAGES, stage),
        "is_deleted": vec.lookup(_DELETED, variant),
        **version_times(rng, created, updated, vec.TS_MIXED, at_least),
    }


def customer_rows(
    rng: np.random.Generator,
    P: People,
    at_least: int,
    *,
    pidx: np.ndarray,
    customer_id: pa.Array,
    email_ts: np.ndarray,
    city: np.ndarray,
    accepts: np.ndarray,
    has_phone: np.ndarray,
    spoil_email: np.ndarray,
    spoil_phone: np.ndarray,
    created: np.ndarray,
    updated: np.ndarray,
) -> dict[str, pa.Array]:
    idx = vec.ints(pidx)
    return {
        "customer_id": customer_id,
        "email": emails(rng, P, pidx, email_ts, at_least, 0.02, spoil_email),
        "phone": phones(rng, P, pidx, has_phone, at_least, 0.02, spoil=spoil_phone),
        "first_name": vec.messy_names(rng, P.first_name.take(idx)),
        "last_name": vec.messy_names(rng, P.last_name.take(idx)),
        "country": vec.lookup(_COUNTRY_CODES, P.country[pidx]),
        "city": vec.lookup(CITY_NAMES, city),
        "accepts_email_marketing": vec.lookup(_ACCEPTS, accepts),
        **version_times(rng, created, updated, vec.TS_SHOP, at_least),
    }


def order_rows(
    rng: np.random.Generator,
    P: People,
    at_least: int,
    *,
    pidx: np.ndarray,
    order_id: pa.Array,
    customer_id: pa.Array,
    guest: np.ndarray,
    ordered: np.ndarray,
    status: np.ndarray,
    subtotal: np.ndarray,
    discount: np.ndarray,
    total: np.ndarray,
    refunded: np.ndarray,
    updated: np.ndarray,
) -> dict[str, pa.Array]:
    n = pidx.size
    amounts = {
        "subtotal": vec.money(subtotal),
        "discount": vec.money(discount),
        "total": vec.money(total),
    }
    bad = vec.sample_mask(rng, n, 0.002, at_least)
    which = rng.integers(0, 3, n)
    for i, name in enumerate(amounts):
        sel = bad & (which == i)
        amounts[name] = vec.put(amounts[name], sel, vec.bad_amounts(rng, int(sel.sum())))
    # a guest order has nothing but its email: only account orders get a spoiled one
    email = emails(rng, P, pidx, ordered, at_least, placeholder_rate=0.001, spoil=~guest)
    return {
        "order_id": order_id,
        "customer_id": customer_id,
        "email": email,
        "ordered_at": vec.timestamps(rng, ordered, vec.TS_SHOP, at_least=at_least),
        "status": vec.lookup(_ORDER_STATUSES, status),
        **amounts,
        "refunded_amount": vec.null_where(vec.money(refunded), refunded <= 0),
        "updated_at": vec.timestamps(rng, updated, vec.TS_SHOP, at_least=at_least),
    }


def item_rows(
    order_id: pa.Array, line: np.ndarray, product: np.ndarray, qty: np.ndarray
) -> dict[str, pa.Array]:
    return {
        "order_id": order_id,
        "line_number": vec.int_text(line),
        "sku": vec.lookup(SKUS, product),
        "product_name": vec.lookup(PRODUCT_NAMES, product),
        "category": vec.lookup(CATEGORIES, product),
        "quantity": vec.int_text(qty),
        "unit_price": vec.lookup(PRODUCT_PRICES, product),
    }


def track_rows(
    rng: np.random.Generator,
    at_least: int,
    *,
    anonymous_id: pa.Array,
    user_id: pa.Array,
    event: np.ndarray,
    ts: np.ndarray,
    properties: pa.Array,
) -> dict[str, pa.Array]:
    n = ts.size
    return {
        "message_id": vec.uuid4(rng, n),
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "event": vec.lookup(_TRACK_EVENTS, event),
        "timestamp": vec.timestamps(rng, ts, vec.TS_EVENTS, at_least=at_least),
        "properties": properties,
    }


_PATHS = vec.strings(ref.PAGE_PATHS)
_SIGNUP_METHODS = vec.strings(ref.SIGNUP_METHODS)


def browse_properties(rng: np.random.Generator, event: np.ndarray) -> pa.Array:
    """Properties of browsing events (Page Viewed, Product Viewed/Added, Checkout Started)."""
    n = event.size
    product = rng.integers(0, len(_PRODUCTS), n)
    qty = vec.choice(rng, n, [0.85, 0.1, 0.05]) + 1
    path = rng.integers(0, len(ref.PAGE_PATHS), n)
    value = vec.money(rng.integers(1500, 40000, n))
    parts = []
    sel = np.flatnonzero(event == 0)
    parts.append((sel, vec.cat('{"url": "', vec.lookup(_PATHS, path[sel]), '"}')))
    for ev, tail in ((1, "}"), (2, ', "quantity": ')):
        sel = np.flatnonzero(event == ev)
        p = product[sel]
        pieces = [
            '{"sku": "',
            vec.lookup(SKUS, p),
            '", "category": "',
            vec.lookup(CATEGORIES, p),
            '", "price": ',
            vec.lookup(PRODUCT_PRICES, p),
            tail,
        ]
        if ev == 2:
            pieces += [vec.int_text(qty[sel]), "}"]
        parts.append((sel, vec.cat(*pieces)))
    sel = np.flatnonzero(event == 3)
    parts.append((sel, vec.cat('{"value": ', value.take(vec.ints(sel)), "}")))
    return vec.assemble(n, parts)


def order_properties(order_id: pa.Array, total_cents: np.ndarray, completed: bool) -> pa.Array:
    if completed:
        return vec.cat('{"order_id": "', order_id, '", "total": ', vec.money(total_cents), "}")
    return vec.cat('{"value": ', vec.money(total_cents), "}")


def signup_properties(rng: np.random.Generator, n: int) -> pa.Array:
    method = vec.lookup(_SIGNUP_METHODS, vec.choice(rng, n, [0.7, 0.2, 0.1]))
    return vec.cat('{"method": "', method, '"}')


def identify_rows(
    rng: np.random.Generator,
    P: People,
    at_least: int,
    *,
    pidx: np.ndarray,
    anonymous_id: pa.Array,
    user_id: pa.Array,
    with_email: np.ndarray,
    ts: np.ndarray,
    primary: np.ndarray,
) -> dict[str, pa.Array]:
    """primary: rows that must stay usable (a browser's only sure link to its person)."""
    n = pidx.size
    email = vec.null_where(P.email_at(pidx, ts), ~with_email)
    # an unparseable address only where the user id still names the person
    email = vec.messy_emails(
        rng, email, at_least=at_least, invalid_ok=np.asarray(user_id.is_valid())
    )
    return {
        "message_id": vec.uuid4(rng, n),
        "anonymous_id": anonymous_id,
        "user_id": user_id,
        "email": email,
        "timestamp": vec.timestamps(rng, ts, vec.TS_EVENTS, at_least=at_least, eligible=~primary),
        "traits": json_names(P, pidx),
    }


def email_rows(
    rng: np.random.Generator,
    P: People,
    at_least: int,
    *,
    event_id: pa.Array,
    pidx: np.ndarray,
    email_ts: np.ndarray,
    campaign: np.ndarray,
    event_type: np.ndarray,
    ts: np.ndarray,
) -> dict[str, pa.Array]:
    return {
        "event_id": event_id,
        "email": emails(rng, P, pidx, email_ts, at_least, spoil=np.zeros(pidx.size, bool)),
        "campaign_id": vec.cat("cmp_", vec.int_text(campaign + 1, 4)),
        "event_type": vec.lookup(_EMAIL_TYPES, event_type),
        "occurred_at": vec.timestamps(rng, ts, vec.TS_MIXED, at_least=at_least),
    }


def ticket_rows(
    rng: np.random.Generator,
    P: People,
    at_least: int,
    *,
    ticket_id: pa.Array,
    pidx: np.ndarray,
    created: np.ndarray,
    horizon: int,
) -> dict[str, pa.Array]:
    n = pidx.size
    recent = created > horizon - 3 * ref.DAY
    status = np.where(
        recent,
        vec.choice(rng, n, ref.TICKET_STATUS_RECENT_P),
        vec.choice(rng, n, ref.TICKET_STATUS_OLD_P),
    )
    done = status >= 2
    solve_time = rng.exponential(1.5 * ref.DAY, n).astype(np.int64) + 5 * ref.MINUTE
    solved = np.minimum(created + solve_time, np.maximum(horizon - 1, created + ref.MINUTE))
    score = np.where(done & (rng.random(n) < 0.45), vec.choice(rng, n, ref.SATISFACTION_P) + 1, -1)
    solved_at = vec.timestamps(rng, solved, vec.TS_MIXED, bad_rate=0.0)
    return {
        "ticket_id": ticket_id,
        "requester_email": emails(rng, P, pidx, created, at_least, spoil=np.zeros(n, bool)),
        "channel": vec.lookup(_CHANNELS, vec.choice(rng, n, ref.TICKET_CHANNEL_P)),
        "priority": vec.lookup(_PRIORITIES, vec.choice(rng, n, ref.TICKET_PRIORITY_P)),
        "status": vec.lookup(_TICKET_STATUSES, status),
        "created_at": vec.timestamps(rng, created, vec.TS_MIXED, at_least=at_least),
        "solved_at": vec.null_where(solved_at, ~done),
        "satisfaction_score": vec.null_where(vec.int_text(np.maximum(score, 0)), score < 0),
    }


def consent_rows(
    rng: np.random.Generator,
    at_least: int,
    *,
    consent_id: pa.Array,
    id_type: np.ndarray,
    value: pa.Array,
    purpose: np.ndarray,
    status: np.ndarray,
    ts: np.ndarray,
    source: np.ndarray,
) -> dict[str, pa.Array]:
    return {
        "consent_event_id": consent_id,
        "identifier_type": vec.lookup(_ID_TYPES, id_type),
        "identifier_value": value,
        "purpose": vec.lookup(_PURPOSES, purpose),
        "status": vec.lookup(_CONSENT_STATUSES, status),
        "recorded_at": vec.timestamps(rng, ts, vec.TS_MIXED, at_least=at_least),
        "source": vec.lookup(_SOURCES, source),
    }


def deletion_rows(
    rng: np.random.Generator,
    at_least: int,
    *,
    request_id: pa.Array,
    id_type: np.ndarray,
    value: pa.Array,
    ts: np.ndarray,
) -> dict[str, pa.Array]:
    return {
        "request_id": request_id,
        "identifier_type": vec.lookup(_ID_TYPES, id_type),
        "identifier_value": value,
        "requested_at": vec.timestamps(rng, ts, vec.TS_MIXED, at_least=at_least),
    }
