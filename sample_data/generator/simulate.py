"""A population's full history: every landing table for a set of people over their timelines.

Used for the initial load (each chunk of people from 2023-01-01 to 2025-06-30) and for the
people who first appear in a drop (their first day).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

import sample_data.generator.entities as ent
import sample_data.generator.reference as ref
import sample_data.generator.rows as R
import sample_data.generator.vec as vec
from sample_data.generator.population import Ids, People, Plan, Stream

# every campaign ever sent: every 3.5 days during the initial load, then one a day
_INITIAL_CAMPAIGNS = (
    ref.T0
    + ref.CAMPAIGN_HOUR
    + ref.CAMPAIGN_EVERY
    * np.arange((ref.T1 - ref.T0 - ref.CAMPAIGN_HOUR - 1) // ref.CAMPAIGN_EVERY + 1, dtype=np.int64)
)
CAMPAIGN_TIMES = np.concatenate(
    [_INITIAL_CAMPAIGNS, ref.T1 + ref.CAMPAIGN_HOUR + ref.DAY * np.arange(20 * 366)]
)


def campaigns_between(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First campaign index at or after lo, and how many campaigns fall in [lo, hi]."""
    first = np.searchsorted(CAMPAIGN_TIMES, lo, side="left")
    last = np.searchsorted(CAMPAIGN_TIMES, hi, side="right")
    return first, np.maximum(last - first, 0)


def campaign_before(ts: np.ndarray) -> np.ndarray:
    """Index of the latest campaign at or before ts."""
    return np.maximum(np.searchsorted(CAMPAIGN_TIMES, ts, side="right") - 1, 0)


@dataclass
class World:
    """A set of people with their entities and the ids those entities carry."""

    P: People
    contacts: ent.Contacts
    customers: ent.Customers
    orders: ent.Orders
    browsers: ent.Browsers
    consent: ent.ConsentStreams
    mess: ent.Mess
    contact_ids: pa.Array
    customer_ids: pa.Array
    order_ids: pa.Array
    customer_id_of: pa.Array  # per person (null: no account)
    contact_id_of: pa.Array  # per person: the first CRM contact (null: none)


def per_person(n: int, pidx: np.ndarray, values: pa.Array) -> pa.Array:
    """An array over n people holding values[k] at pidx[k] and null elsewhere."""
    where = np.full(n, -1, dtype=np.int64)
    where[pidx] = np.arange(pidx.size)
    if pidx.size == 0:
        return pa.nulls(n, type=vec.STR)
    return vec.null_where(values.take(vec.ints(np.maximum(where, 0))), where < 0)


def build_world(
    plan: Plan, chunk: int, P: People, ids: Ids, horizon: int, drop: int = 0, fresh: bool = False
) -> World:
    C = ent.contacts(P, plan.rng(chunk, Stream.CONTACTS, drop), horizon, fresh)
    U = ent.customers(P, plan.rng(chunk, Stream.CUSTOMERS, drop), horizon, fresh)
    Od = ent.orders(P, plan.rng(chunk, Stream.ORDERS, drop), horizon, fresh)
    B = ent.browsers(P, plan.rng(chunk, Stream.ANONYMOUS, drop), fresh)
    S = ent.consent_streams(
        P, plan.rng(chunk, Stream.CONSENT, drop), horizon, ent.phone_records(P, C, U) > 0
    )
    mess = ent.mess(P, C, U, S, plan.rng(chunk, Stream.MESS, drop))
    contact_ids = ids.allocate("contact", C.created)
    customer_ids = ids.allocate("customer", U.created)
    order_ids = ids.allocate("order", Od.ordered)
    first_contact = ~C.is_dup
    return World(
        P=P,
        contacts=C,
        customers=U,
        orders=Od,
        browsers=B,
        consent=S,
        mess=mess,
        contact_ids=contact_ids,
        customer_ids=customer_ids,
        order_ids=order_ids,
        customer_id_of=per_person(P.n, U.pidx, customer_ids),
        contact_id_of=per_person(P.n, C.pidx[first_contact], contact_ids.filter(first_contact)),
    )


def _take(a: pa.Array, idx: np.ndarray) -> pa.Array:
    return a.take(vec.ints(idx))


# --- one function per table ------------------------------------------------------------------


def contacts_table(W: World, rng: np.random.Generator, at_least: int) -> R.Rows:
    C, P = W.contacts, W.P
    r = np.concatenate([np.arange(C.m), np.flatnonzero(C.has_v2)])
    v2 = np.arange(r.size) >= C.m
    pidx = C.pidx[r]
    latest = v2 | ~C.has_v2[r]
    updated = np.where(v2, C.t_v2[r], C.updated[r])
    cols = R.contact_rows(
        rng,
        P,
        at_least,
        pidx=pidx,
        contact_id=_take(W.contact_ids, r),
        email_ts=np.where(v2, C.t_v2[r], C.created[r]),
        stage=np.where(v2, C.stage2[r], C.stage1[r]),
        job=np.where(v2, C.job2[r], C.job1[r]),
        company=C.company[r],
        city=np.where(v2, C.city2[r], P.city[pidx]),
        deleted=C.deleted[r] & latest,
        has_phone=C.has_phone[r],
        spoil_email=W.mess.contact_email[r],
        spoil_phone=W.mess.contact_phone[r],
        created=C.created[r],
        updated=updated,
    )
    return R.Rows(cols, updated, W.contact_ids, C.pidx)


def customers_table(W: World, rng: np.random.Generator, at_least: int) -> R.Rows:
    U, P = W.customers, W.P
    r = np.concatenate([np.arange(U.m), np.flatnonzero(U.has_v2)])
    v2 = np.arange(r.size) >= U.m
    pidx = U.pidx[r]
    updated = np.where(v2, U.t_v2[r], U.created[r])
    cols = R.customer_rows(
        rng,
        P,
        at_least,
        pidx=pidx,
        customer_id=_take(W.customer_ids, r),
        email_ts=U.created[r],
        city=np.where(v2, U.city2[r], P.city[pidx]),
        accepts=np.where(v2, U.accepts2[r], U.accepts1[r]),
        has_phone=U.has_phone[r],
        spoil_email=W.mess.customer_email[r],
        spoil_phone=W.mess.customer_phone[r],
        created=U.created[r],
        updated=updated,
    )
    return R.Rows(cols, updated, W.customer_ids, U.pidx)


def orders_tables(
    W: World, Od: ent.Orders, order_ids: pa.Array, rng: np.random.Generator, at_least: int
) -> tuple[R.Rows, R.Rows]:
    """Orders (first versions and the later versions drawn with them) and their items."""
    P = W.P
    r = np.concatenate([np.arange(Od.m), np.flatnonzero(Od.has_v2)])
    v2 = np.arange(r.size) >= Od.m
    pidx = Od.pidx[r]
    status = np.where(v2 | ~Od.has_v2[r], Od.status[r], 0)
    updated = np.where(v2, Od.t_v2[r], Od.updated[r])
    customer_id = vec.null_where(_take(W.customer_id_of, pidx), Od.guest[r])
    cols = R.order_rows(
        rng,
        P,
        at_least,
        pidx=pidx,
        order_id=_take(order_ids, r),
        customer_id=customer_id,
        guest=Od.guest[r],
        ordered=Od.ordered[r],
        status=status,
        subtotal=Od.subtotal[r],
        discount=Od.discount[r],
        total=Od.total[r],
        refunded=np.where(v2, Od.refunded[r], 0),
        updated=updated,
    )
    orders = R.Rows(cols, updated, order_ids, Od.pidx)
    item_cols = R.item_rows(
        _take(order_ids, Od.item_order), Od.item_line, Od.item_product, Od.item_qty
    )
    items = R.Rows(
        item_cols, Od.ordered[Od.item_order], pa.array([], type=vec.STR), np.zeros(0, np.int64)
    )
    return orders, items


def order_tracks(
    W: World, Od: ent.Orders, order_ids: pa.Array, rng: np.random.Generator, share: float
) -> dict[str, np.ndarray | pa.Array]:
    """Order Completed (half of them after a Checkout Started) for a share of the orders of
    people who browse."""
    B = W.browsers
    sel = np.flatnonzero((B.person_count[Od.pidx] > 0) & (rng.random(Od.m) < share))
    pidx = Od.pidx[sel]
    done = Od.ordered[sel]
    browser = B.random_of(rng, pidx, done)
    logged_in = ~Od.guest[sel] & (rng.random(sel.size) < 0.9)
    user = vec.null_where(_take(W.customer_id_of, pidx), ~logged_in)
    oid = _take(order_ids, sel)
    checkout = np.flatnonzero(rng.random(sel.size) < 0.5)
    started = done[checkout] - rng.integers(ref.MINUTE, 20 * ref.MINUTE, checkout.size)
    c = vec.ints(checkout)
    return {
        "pidx": np.concatenate([pidx[checkout], pidx]),
        "browser": np.concatenate([browser[checkout], browser]),
        "user_id": pa.concat_arrays([user.take(c), user]),
        "event": np.concatenate([np.full(checkout.size, 3), np.full(sel.size, 4)]),
        "ts": np.concatenate([started, done]),
        "properties": pa.concat_arrays(
            [
                R.order_properties(oid.take(c), Od.total[sel][checkout], completed=False),
                R.order_properties(oid, Od.total[sel], completed=True),
            ]
        ),
    }


def browse_tracks(
    W: World, rng: np.random.Generator, pidx: np.ndarray, ts: np.ndarray
) -> dict[str, np.ndarray | pa.Array]:
    P, B = W.P, W.browsers
    n = pidx.size
    event = vec.choice(rng, n, ref.GENERIC_TRACK_P)
    browser = B.random_of(rng, pidx, ts)
    logged_in = P.has_account[pidx] & (ts >= P.t_acct[pidx]) & (rng.random(n) < 0.5)
    return {
        "pidx": pidx,
        "browser": browser,
        "user_id": vec.null_where(_take(W.customer_id_of, pidx), ~logged_in),
        "event": event,
        "ts": ts,
        "properties": R.browse_properties(rng, event),
    }


def signup_tracks(
    W: World, rng: np.random.Generator, pidx: np.ndarray, ts: np.ndarray
) -> dict[str, np.ndarray | pa.Array]:
    return {
        "pidx": pidx,
        "browser": W.browsers.random_of(rng, pidx, ts),
        "user_id": _take(W.customer_id_of, pidx),
        "event": np.full(pidx.size, 5),
        "ts": ts,
        "properties": R.signup_properties(rng, pidx.size),
    }


def tracks_from(
    W: World, parts: list[dict[str, np.ndarray | pa.Array]], rng: np.random.Generator, at_least: int
) -> R.Rows:
    def join(name: str) -> np.ndarray | pa.Array:
        values = [p[name] for p in parts]
        if isinstance(values[0], pa.Array):
            return pa.concat_arrays(values)
        return np.concatenate(values)

    pidx, browser, ts = join("pidx"), join("browser"), join("ts")
    cols = R.track_rows(
        rng,
        at_least,
        anonymous_id=_take(W.browsers.anonymous_id, browser),
        user_id=join("user_id"),
        event=join("event"),
        ts=ts,
        properties=join("properties"),
    )
    return R.Rows(cols, ts, cols["message_id"], pidx)


def identifies_from(
    W: World,
    rng: np.random.Generator,
    at_least: int,
    browser: np.ndarray,
    ts: np.ndarray,
    primary: np.ndarray,
    force_email: np.ndarray | None = None,
) -> R.Rows:
    """Identify calls of the given browsers; `primary` ones always stay usable."""
    P = W.P
    pidx = W.browsers.pidx[browser]
    n = pidx.size
    has_uid = P.has_account[pidx] & (ts >= P.t_acct[pidx])
    changed = P.changer[pidx] & (ts >= P.t_change[pidx])
    with_email = ~has_uid | (rng.random(n) < 0.6) | changed
    if force_email is not None:
        with_email |= force_email
    cols = R.identify_rows(
        rng,
        P,
        at_least,
        pidx=pidx,
        anonymous_id=_take(W.browsers.anonymous_id, browser),
        user_id=vec.null_where(_take(W.customer_id_of, pidx), ~has_uid),
        with_email=with_email,
        ts=ts,
        primary=primary,
    )
    return R.Rows(cols, ts, cols["message_id"], pidx)


def email_events_from(
    W: World,
    ids: Ids,
    rng: np.random.Generator,
    at_least: int,
    pidx: np.ndarray,
    campaign: np.ndarray,
    sent: np.ndarray,
    horizon: int,
) -> R.Rows:
    """All events following each send: delivered or bounced, opens, clicks, unsubscribes."""
    s = pidx.size
    u = rng.random((6, s))
    delivered = u[0] < 0.97
    opened = delivered & (u[1] < 0.28)
    clicked = opened & (u[2] < 0.25)
    unsubscribed = delivered & (u[3] < 0.008)
    spam = delivered & (u[4] < 0.001)
    t_delivered = sent + rng.integers(ref.SECOND, 120 * ref.SECOND, s)
    t_open = t_delivered + rng.exponential(8 * ref.HOUR, s).astype(np.int64)
    t_click = t_open + ref.SECOND + rng.exponential(5 * ref.MINUTE, s).astype(np.int64)
    t_unsub = np.where(opened, t_open, t_delivered) + rng.integers(ref.SECOND, ref.HOUR, s)
    t_spam = t_delivered + rng.integers(ref.MINUTE, 3 * ref.HOUR, s)
    kinds = [
        (np.ones(s, bool), sent, 0),
        (delivered, t_delivered, 1),
        (opened, t_open, 2),
        (clicked, t_click, 3),
        (~delivered, t_delivered, 4),
        (unsubscribed, t_unsub, 5),
        (spam, t_spam, 6),
    ]
    send = np.concatenate([np.flatnonzero(m) for m, _, _ in kinds])
    ts = np.concatenate([t[m] for m, t, _ in kinds])
    etype = np.concatenate([np.full(int(m.sum()), k) for m, _, k in kinds])
    keep = ts < horizon
    send, ts, etype = send[keep], ts[keep], etype[keep]
    event_id = ids.allocate("email_event", ts)
    cols = R.email_rows(
        rng,
        W.P,
        at_least,
        event_id=event_id,
        pidx=pidx[send],
        email_ts=sent[send],
        campaign=campaign[send],
        event_type=etype,
        ts=ts,
    )
    return R.Rows(cols, ts, event_id, pidx[send])


def tickets_from(
    W: World,
    ids: Ids,
    rng: np.random.Generator,
    at_least: int,
    pidx: np.ndarray,
    created: np.ndarray,
    horizon: int,
) -> R.Rows:
    ticket_id = ids.allocate("ticket", created)
    cols = R.ticket_rows(
        rng, W.P, at_least, ticket_id=ticket_id, pidx=pidx, created=created, horizon=horizon
    )
    return R.Rows(cols, created, ticket_id, pidx)


def consent_from(
    W: World,
    ids: Ids,
    rng: np.random.Generator,
    at_least: int,
    *,
    pidx: np.ndarray,
    id_type: np.ndarray,
    purpose: np.ndarray,
    status: np.ndarray,
    ts: np.ndarray,
    source: np.ndarray,
) -> R.Rows:
    consent_id = ids.allocate("consent", ts)
    value = R.identifier_values(
        rng, W.P, pidx, id_type, ts, W.customer_id_of, W.contact_id_of, at_least, spoil=False
    )
    cols = R.consent_rows(
        rng,
        at_least,
        consent_id=consent_id,
        id_type=id_type,
        value=value,
        purpose=purpose,
        status=status,
        ts=ts,
        source=source,
    )
    return R.Rows(cols, ts, consent_id, pidx)


def deletions_from(
    W: World, ids: Ids, rng: np.random.Generator, at_least: int, pidx: np.ndarray, ts: np.ndarray
) -> R.Rows:
    P = W.P
    id_type = np.array([0, 1, 2])[vec.choice(rng, pidx.size, [0.8, 0.1, 0.1])]
    id_type = np.where((id_type == 2) & ~P.has_account[pidx], 0, id_type)
    request_id = ids.allocate("deletion", ts)
    # Never spoiled: an erasure request that names nobody readable fails the run (by design),
    # so generated data keeps its mess in the other columns (dates, case, spaces).
    value = R.identifier_values(
        rng, P, pidx, id_type, ts, W.customer_id_of, W.contact_id_of, at_least, spoil=False
    )
    cols = R.deletion_rows(
        rng, at_least, request_id=request_id, id_type=id_type, value=value, ts=ts
    )
    return R.Rows(cols, ts, request_id, pidx)


# --- a whole history ------------------------------------------------------------------------------


def history(
    plan: Plan,
    chunk: int,
    W: World,
    ids: Ids,
    horizon: int,
    drop: int = 0,
    at_least: int = 1,
    deletion_rate: float = 0.002,
    tracks_per_person: float = 6.0,
) -> dict[str, R.Rows]:
    """Every table for the people of W from their first to their last day."""
    P, B = W.P, W.browsers

    def rng(stream: Stream) -> np.random.Generator:
        return plan.rng(chunk, stream, drop)

    out: dict[str, R.Rows] = {}
    out["crm/contacts"] = contacts_table(W, rng(Stream.CONTACT_ROWS), at_least)
    out["shop/customers"] = customers_table(W, rng(Stream.CUSTOMER_ROWS), at_least)
    out["shop/orders"], out["shop/order_items"] = orders_tables(
        W, W.orders, W.order_ids, rng(Stream.ORDER_ROWS), at_least
    )

    g = rng(Stream.TRACKS)
    web = np.flatnonzero(B.person_count > 0)
    n_browse = np.minimum(g.poisson(tracks_per_person, web.size), 150)
    pidx = np.repeat(web, n_browse)
    first = B.person_first[pidx] + (g.random(pidx.size) * B.person_count[pidx]).astype(np.int64)
    ts = vec.between(g, B.first_seen[first], P.t_end[pidx])
    signup = np.flatnonzero(P.has_web & P.has_account)
    parts = [
        browse_tracks(W, g, pidx, ts),
        order_tracks(W, W.orders, W.order_ids, g, 0.35),
        signup_tracks(W, g, signup, P.t_acct[signup]),
    ]
    out["events/tracks"] = tracks_from(W, parts, g, at_least)

    g = rng(Stream.IDENTIFIES)
    identified = np.flatnonzero(B.identified)
    owner, rank = vec.group_index(1 + (g.random(identified.size) < 0.5))
    browser = identified[owner]
    ts = vec.between(g, B.first_seen[browser], P.t_end[B.pidx[browser]])
    out["events/identifies"] = identifies_from(W, g, at_least, browser, ts, rank == 0)

    g = rng(Stream.EMAIL)
    mk = np.flatnonzero(P.marketing)
    first_c, count_c = campaigns_between(P.t_start[mk], P.t_end[mk])
    n_sends = np.minimum(np.minimum(g.poisson(0.034 * count_c), count_c), 40)
    owner = np.repeat(np.arange(mk.size), n_sends)
    campaign = first_c[owner] + (g.random(owner.size) * count_c[owner]).astype(np.int64)
    pair = np.unique(mk[owner] * CAMPAIGN_TIMES.size + campaign)
    pidx, campaign = pair // CAMPAIGN_TIMES.size, pair % CAMPAIGN_TIMES.size
    sent = CAMPAIGN_TIMES[campaign] + g.integers(0, 3 * ref.HOUR, pidx.size)
    out["email/events"] = email_events_from(W, ids, g, at_least, pidx, campaign, sent, horizon)

    g = rng(Stream.TICKETS)
    n_tickets = np.minimum(g.poisson(0.15, P.n), 5)
    pidx = np.repeat(np.arange(P.n), n_tickets)
    created = vec.between(g, P.t_start[pidx], np.minimum(P.t_end[pidx] + 30 * ref.DAY, horizon - 1))
    out["support/tickets"] = tickets_from(W, ids, g, at_least, pidx, created, horizon)

    g = rng(Stream.CONSENT_ROWS)
    S = W.consent
    r = np.concatenate([np.arange(S.m), np.flatnonzero(S.revoked)])
    rev = np.arange(r.size) >= S.m
    out["consent/events"] = consent_from(
        W,
        ids,
        g,
        at_least,
        pidx=S.pidx[r],
        id_type=S.id_type[r],
        purpose=S.purpose[r],
        status=np.where(rev, 2, np.where(S.granted[r], 0, 1)),
        ts=np.where(rev, S.t_revoke[r], S.t_first[r]),
        source=np.where(rev, S.source2[r], S.source1[r]),
    )

    g = rng(Stream.DELETIONS)
    pidx = np.flatnonzero(vec.sample_mask(g, P.n, deletion_rate, at_least))
    ts = vec.between(g, np.maximum(P.t_start[pidx], horizon - 180 * ref.DAY), horizon - 1)
    out["privacy/deletion_requests"] = deletions_from(W, ids, g, at_least, pidx, ts)
    return out
