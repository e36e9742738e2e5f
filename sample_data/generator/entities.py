"""Entity-level draws (numbers only): contacts, accounts, orders, browsers, consent streams,
and which contacts and accounts may carry a spoiled email or phone.

These are separated from the text formatting so that a drop can rebuild the entities of
the initial load cheaply (to update a contact, refund an order, revoke a consent) without
formatting every row again. Each function uses its own random stream, drawn in a fixed
order, so the result depends only on the people and the stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

import sample_data.generator.reference as ref
import sample_data.generator.vec as vec
from sample_data.generator.population import People, random_city

_PRICES = np.array([p for _, (_, items) in ref.CATALOG.items() for _, p in items], dtype=np.int64)
N_PRODUCTS = _PRICES.size
# the lifecycle stage a contact moves to when updated (other -> lead)
NEXT_STAGE = np.array([1, 2, 3, 4, 5, 6, 6, 1], dtype=np.int64)


def _ranks_by(key: np.ndarray) -> np.ndarray:
    order = np.argsort(key, kind="stable")
    ranks = np.empty(key.size, dtype=np.int64)
    ranks[order] = np.arange(key.size)
    return ranks


@dataclass
class Contacts:
    pidx: np.ndarray
    is_dup: np.ndarray
    created: np.ndarray
    updated: np.ndarray  # updated_at of the first version
    stage1: np.ndarray
    stage2: np.ndarray
    job1: np.ndarray  # -1: empty
    job2: np.ndarray
    company: np.ndarray  # -1: empty
    has_phone: np.ndarray
    has_v2: np.ndarray
    t_v2: np.ndarray
    city2: np.ndarray
    deleted: np.ndarray

    @property
    def m(self) -> int:
        return int(self.pidx.size)


def contacts(P: People, rng: np.random.Generator, horizon: int, fresh: bool = False) -> Contacts:
    holders = np.flatnonzero(P.has_contact)
    h = holders.size
    dup = (rng.random(h) < 0.03) & (not fresh)
    limit = np.where(P.changer, P.t_change - 1, P.t_end)[holders]
    first_created = vec.between(rng, P.t_start[holders], limit)
    dup_created = vec.between(rng, first_created[dup], P.t_end[holders][dup])
    pidx = np.concatenate([holders, holders[dup]])
    created = np.concatenate([first_created, dup_created])
    is_dup = np.concatenate([np.zeros(h, bool), np.ones(int(dup.sum()), bool)])
    m = pidx.size

    stage1 = vec.choice(rng, m, ref.LIFECYCLE_P)
    stage2 = np.where(rng.random(m) < 0.7, NEXT_STAGE[stage1], stage1)
    job1 = np.where(rng.random(m) < 0.25, -1, rng.integers(0, len(ref.JOB_TITLES), m))
    job2 = np.where(rng.random(m) < 0.6, job1, rng.integers(0, len(ref.JOB_TITLES), m))
    company = np.where(rng.random(m) < 0.3, -1, rng.integers(0, len(ref.COMPANIES), m))
    has_phone = rng.random(m) < 0.7
    changer_first = P.changer[pidx] & ~is_dup
    has_v2 = ((rng.random(m) < 0.3) | changer_first) & (not fresh)
    updated = np.minimum(created + (rng.random(m) * ref.HOUR).astype(np.int64), horizon - 1)
    v2_from = np.maximum(updated, np.where(changer_first, P.t_change[pidx], updated)) + 1000
    t_v2 = vec.between(rng, v2_from, np.full(m, horizon - 1))
    moved = rng.random(m) < 0.2
    city2 = np.where(moved, random_city(rng, P.country[pidx]), P.city[pidx])
    deleted = rng.random(m) < 0.02
    return Contacts(
        pidx=pidx,
        is_dup=is_dup,
        created=created,
        updated=updated,
        stage1=stage1,
        stage2=stage2,
        job1=job1,
        job2=job2,
        company=company,
        has_phone=has_phone,
        has_v2=has_v2,
        t_v2=t_v2,
        city2=city2,
        deleted=deleted,
    )


@dataclass
class Customers:
    pidx: np.ndarray
    created: np.ndarray
    accepts1: np.ndarray
    accepts2: np.ndarray
    has_phone: np.ndarray
    has_v2: np.ndarray
    t_v2: np.ndarray
    city2: np.ndarray

    @property
    def m(self) -> int:
        return int(self.pidx.size)


def customers(P: People, rng: np.random.Generator, horizon: int, fresh: bool = False) -> Customers:
    pidx = np.flatnonzero(P.has_account)
    m = pidx.size
    created = P.t_acct[pidx]
    accepts1 = vec.choice(rng, m, ref.ACCEPTS_MARKETING_P)
    accepts2 = vec.choice(rng, m, ref.ACCEPTS_MARKETING_P)
    has_phone = rng.random(m) < 0.6
    has_v2 = (rng.random(m) < 0.15) & (not fresh)
    t_v2 = vec.between(rng, created + 1000, np.full(m, horizon - 1))
    moved = rng.random(m) < 0.3
    city2 = np.where(moved, random_city(rng, P.country[pidx]), P.city[pidx])
    return Customers(pidx, created, accepts1, accepts2, has_phone, has_v2, t_v2, city2)


@dataclass
class Orders:
    pidx: np.ndarray
    guest: np.ndarray
    ordered: np.ndarray
    updated: np.ndarray  # updated_at of the first version
    subtotal: np.ndarray  # cents
    discount: np.ndarray
    total: np.ndarray
    refunded: np.ndarray
    status: np.ndarray  # final status (index into ref.ORDER_STATUSES)
    has_v2: np.ndarray  # a second version changes paid -> status
    t_v2: np.ndarray
    item_order: np.ndarray  # per item: index of its order
    item_line: np.ndarray  # 1-based line number
    item_product: np.ndarray
    item_qty: np.ndarray

    @property
    def m(self) -> int:
        return int(self.pidx.size)


def draw_orders(
    rng: np.random.Generator,
    pidx: np.ndarray,
    guest: np.ndarray,
    ordered: np.ndarray,
    horizon: int,
) -> Orders:
    """Baskets, amounts and status histories for the given orders."""
    m = pidx.size
    n_items = vec.choice(rng, m, [0.5, 0.28, 0.14, 0.08]) + 1
    item_order, item_rank = vec.group_index(n_items)
    k = item_order.size
    product = vec.choice(rng, k, np.ones(N_PRODUCTS))
    qty = vec.choice(rng, k, [0.78, 0.16, 0.06]) + 1
    line_total = qty * _PRICES[product]
    subtotal = np.bincount(item_order, weights=line_total, minlength=m).astype(np.int64)

    kind = vec.choice(rng, m, [0.7, 0.2, 0.1])
    pct = np.array([10, 15, 20])[rng.integers(0, 3, m)]
    fixed = np.array([500, 1000])[rng.integers(0, 2, m)]
    discount = np.select(
        [kind == 1, kind == 2], [subtotal * pct // 100, np.minimum(fixed, subtotal // 2)], 0
    )
    total = subtotal - discount

    status = vec.choice(rng, m, ref.ORDER_STATUS_P)
    u_partial, u_cancel, u_refund_delay, u_cancel_delay, u_first = rng.random((5, m))
    partial = status == 1
    refunded = np.select(
        [status == 2, partial],
        [total, np.clip((total * (0.1 + 0.7 * u_partial)).astype(np.int64), 1, total - 1)],
        0,
    )
    refund_like = (status == 1) | (status == 2)
    has_v2 = refund_like | ((status == 3) & (u_cancel < 0.1))
    updated = np.minimum(ordered + (u_first * 10 * ref.MINUTE).astype(np.int64), horizon - 1)
    delay = np.where(
        refund_like,
        ref.DAY + u_refund_delay * 29 * ref.DAY,
        ref.HOUR + u_cancel_delay * 3 * ref.DAY,
    ).astype(np.int64)
    t_v2 = np.maximum(np.minimum(updated + delay, horizon - 1), updated + 1000)
    return Orders(
        pidx=pidx,
        guest=guest,
        ordered=ordered,
        updated=updated,
        subtotal=subtotal,
        discount=discount,
        total=total,
        refunded=refunded,
        status=status,
        has_v2=has_v2,
        t_v2=t_v2,
        item_order=item_order,
        item_line=item_rank + 1,
        item_product=product,
        item_qty=qty,
    )


def orders(P: People, rng: np.random.Generator, horizon: int, fresh: bool = False) -> Orders:
    account = np.flatnonzero(P.has_account)
    if fresh:
        n_acc = (rng.random(account.size) < 0.3).astype(np.int64)
    else:
        n_acc = np.minimum(rng.geometric(1 / 3.5, account.size) - 1, 30)
    guests = np.flatnonzero(P.guest_buyer)
    n_guest = 1 + ((rng.random(guests.size) < 0.3) & (not fresh))
    pidx = np.concatenate([np.repeat(account, n_acc), np.repeat(guests, n_guest)])
    guest = np.concatenate([np.zeros(int(n_acc.sum()), bool), np.ones(int(n_guest.sum()), bool)])
    lo = np.where(guest, P.t_start[pidx], P.t_acct[pidx])
    ordered = vec.between(rng, lo, P.t_end[pidx])
    return draw_orders(rng, pidx, guest, ordered, horizon)


@dataclass
class Browsers:
    """Anonymous ids (one per browser/device), grouped by person."""

    pidx: np.ndarray
    anonymous_id: pa.Array
    first_seen: np.ndarray
    identified: np.ndarray
    person_first: np.ndarray  # per person: index of the first browser (-1: none)
    person_count: np.ndarray

    @property
    def m(self) -> int:
        return int(self.pidx.size)

    def random_of(self, rng: np.random.Generator, pidx: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """A browser of each person (one already seen at ts when the person has several)."""
        pick = self.person_first[pidx] + (rng.random(pidx.size) * self.person_count[pidx]).astype(
            np.int64
        )
        return np.where(self.first_seen[pick] <= ts, pick, self.person_first[pidx])


def browsers(P: People, rng: np.random.Generator, fresh: bool = False) -> Browsers:
    web = np.flatnonzero(P.has_web)
    k = vec.choice(rng, web.size, [1.0] if fresh else [0.55, 0.3, 0.15]) + 1
    owner, rank = vec.group_index(k)
    pidx = web[owner]
    later = vec.between(rng, P.t_start[pidx], P.t_end[pidx])
    first_seen = np.where(rank == 0, P.t_start[pidx], later)
    # everyone identifies on their first browser (everyone has an email address); a few
    # later browsers (a work laptop, a phone) never do and stay anonymous
    identified = (rank == 0) | (rng.random(pidx.size) < 0.99)
    anonymous_id = vec.uuid4(rng, pidx.size)
    person_first = np.full(P.n, -1, dtype=np.int64)
    person_count = np.zeros(P.n, dtype=np.int64)
    person_first[web] = np.cumsum(k) - k
    person_count[web] = k
    return Browsers(pidx, anonymous_id, first_seen, identified, person_first, person_count)


@dataclass
class ConsentStreams:
    """One stream per (person, purpose, identifier): a grant or denial, maybe a revocation."""

    pidx: np.ndarray
    purpose: np.ndarray
    id_type: np.ndarray  # index into ref.IDENTIFIER_TYPES
    t_first: np.ndarray
    granted: np.ndarray
    revoked: np.ndarray
    t_revoke: np.ndarray
    source1: np.ndarray
    source2: np.ndarray

    @property
    def m(self) -> int:
        return int(self.pidx.size)


def phone_records(P: People, C: Contacts, U: Customers) -> np.ndarray:
    """Per person: how many CRM contacts and shop accounts carry their phone number."""
    return np.bincount(C.pidx[C.has_phone], minlength=P.n) + np.bincount(
        U.pidx[U.has_phone], minlength=P.n
    )


def consent_streams(
    P: People, rng: np.random.Generator, horizon: int, phone_known: np.ndarray
) -> ConsentStreams:
    """phone_known: per person, whether a contact or account of theirs carries their phone."""
    n = P.n
    wants = rng.random((4, n)) < np.array([[0.7], [0.2], [0.15], [0.07]])
    # text messages (recorded by phone number): people who gave their number to the CRM or
    # the shop
    wants[1] &= phone_known
    purpose_of, person_of = np.nonzero(wants)
    order = np.lexsort((purpose_of, person_of))
    pidx, purpose = person_of[order], purpose_of[order]
    m = pidx.size
    account = P.has_account[pidx]
    contact = P.has_contact[pidx]
    u_type, u_first, u_granted, u_revoked = rng.random((4, m))
    id_type = np.zeros(m, dtype=np.int64)  # email
    marketing = purpose == 0
    id_type = np.where(marketing & contact & (u_type < 0.1), 3, id_type)
    id_type = np.where(marketing & account & (u_type >= 0.1) & (u_type < 0.15), 2, id_type)
    id_type = np.where(purpose == 1, 1, id_type)
    id_type = np.where((purpose == 2) & account & (u_type < 0.6), 2, id_type)
    id_type = np.where((purpose == 3) & account & (u_type < 0.3), 2, id_type)
    t_first = P.t_start[pidx] + (u_first * (P.t_end[pidx] - P.t_start[pidx])).astype(np.int64)
    granted = u_granted < 0.85
    revoked = granted & (u_revoked < 0.12)
    t_revoke = vec.between(rng, t_first + ref.MINUTE, np.full(m, horizon - 1))
    revoked &= t_revoke < horizon
    source1 = vec.choice(rng, m, ref.CONSENT_GRANT_SOURCE_P)
    source2 = vec.choice(rng, m, ref.CONSENT_REVOKE_SOURCE_P)
    return ConsentStreams(
        pidx, purpose, id_type, t_first, granted, revoked, t_revoke, source1, source2
    )


@dataclass
class Mess:
    """Which CRM contacts and shop accounts may carry an unusable email or phone.

    A placeholder or unparseable value must not cut a record off from its person, so:
    - an email may be spoiled only on one record per person, a record whose phone is also on
      another contact or account of theirs (and never for people who changed address, whose
      CRM versions are what ties the old address to the new one);
    - a phone may be spoiled only when nothing hangs on it: not for people whose number
      links two records, nor for people whose text-message consent names the number.
    Spoiled emails only go where the phone is kept, so a record never loses both.
    """

    contact_email: np.ndarray  # per contact record
    contact_phone: np.ndarray
    customer_email: np.ndarray  # per account
    customer_phone: np.ndarray


def mess(P: People, C: Contacts, U: Customers, S: ConsentStreams, rng: np.random.Generator) -> Mess:
    shared = phone_records(P, C, U) >= 2
    pidx = np.concatenate([C.pidx, U.pidx])
    m = pidx.size
    candidate = np.concatenate([C.has_phone, U.has_phone]) & shared[pidx] & ~P.changer[pidx]
    # one candidate per person, at random: the first in order of (person, non-candidates
    # last, random key)
    order = np.lexsort((rng.random(m), ~candidate, pidx))
    first = np.ones(m, dtype=bool)
    first[1:] = pidx[order][1:] != pidx[order][:-1]
    email = np.zeros(m, dtype=bool)
    email[order] = first & candidate[order]
    texted = np.zeros(P.n, dtype=bool)
    texted[S.pidx[S.id_type == 1]] = True
    phone = ~(shared | texted)[pidx]
    return Mess(
        contact_email=email[: C.m],
        contact_phone=phone[: C.m],
        customer_email=email[C.m :],
        customer_phone=phone[C.m :],
    )
