"""The simulated population: who the people are, their identifiers and their timelines.

People are generated in chunks of CHUNK; a chunk depends only on (seed, chunk index), so
chunks can be built in any order or in parallel and a later drop can rebuild exactly the
same people without reading anything back.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import sample_data.generator.reference as ref
import sample_data.generator.vec as vec

CHUNK = 50_000  # people per part file
NEW_PEOPLE_RATE = 0.0005  # new people per existing person in each drop

_FAR_FUTURE = np.iinfo(np.int64).max // 4


class Stream(IntEnum):
    """Independent random streams; each (seed, chunk, stream, drop) has its own generator."""

    PEOPLE = 1
    CONTACTS = 2
    CUSTOMERS = 3
    ORDERS = 4
    ANONYMOUS = 5
    CONSENT = 6
    MESS = 7
    CONTACT_ROWS = 11
    CUSTOMER_ROWS = 12
    ORDER_ROWS = 13
    TRACKS = 14
    IDENTIFIES = 15
    EMAIL = 16
    TICKETS = 17
    CONSENT_ROWS = 18
    DELETIONS = 19
    DROP_PEOPLE = 31
    DROP_ACTIVITY = 32
    DELIVERY = 40


# Identifier kinds: (prefix, zero-padded width, most entities one person can have in a chunk)
ID_KINDS = {
    "contact": ("hs-", 6, 2),
    "customer": ("u_", 7, 1),
    "order": ("o_", 8, 32),
    "email_event": ("ev_", 9, 250),
    "ticket": ("tk_", 7, 6),
    "consent": ("ce_", 8, 8),
    "deletion": ("dsr_", 6, 1),
}


@dataclass(frozen=True)
class Plan:
    """What is being generated: population size, seed, and the derived id spaces."""

    people: int
    seed: int

    @property
    def n_chunks(self) -> int:
        return max(1, -(-self.people // CHUNK))

    def chunk_range(self, chunk: int) -> tuple[int, int]:
        start = chunk * CHUNK
        return start, min(self.people, start + CHUNK)

    def rng(self, chunk: int, stream: Stream, drop: int = 0) -> np.random.Generator:
        entropy = [self.seed % (1 << 64), chunk, int(stream), drop]
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))

    @property
    def number_space(self) -> int:
        """Modulus for the unique number in email addresses (a power of ten)."""
        return 10 ** max(5, len(str(4 * self.people + 10_000)))

    def new_people_count(self, chunk: int) -> int:
        start, stop = self.chunk_range(chunk)
        return max(1, round((stop - start) * NEW_PEOPLE_RATE))

    def new_people_uids(self, chunk: int, drop: int) -> np.ndarray:
        """Unique person numbers for the people who first appear in drop `drop`."""
        counts = [self.new_people_count(c) for c in range(self.n_chunks)]
        base = self.people + (drop - 1) * sum(counts) + sum(counts[:chunk])
        return np.arange(base, base + counts[chunk], dtype=np.int64)


class Ids:
    """Allocates ids that never collide across chunks, drops, or people.

    An id number is drop * B + local * n_chunks + chunk + 1, where local counts the entities
    of that kind allocated in this (chunk, drop) and B = cap * CHUNK * n_chunks bounds every
    chunk's count, so the spaces of chunks and of drops are disjoint.
    """

    def __init__(self, plan: Plan, chunk: int, drop: int) -> None:
        self.plan = plan
        self.chunk = chunk
        self.drop = drop
        self.used: dict[str, int] = {}

    def allocate(self, kind: str, order_key: np.ndarray) -> pa.Array:
        prefix, width, cap = ID_KINDS[kind]
        m = len(order_key)
        start = self.used.get(kind, 0)
        if start + m > cap * CHUNK:
            raise RuntimeError(f"too many {kind} ids in one chunk")
        self.used[kind] = start + m
        local = np.empty(m, dtype=np.int64)
        local[np.argsort(order_key, kind="stable")] = np.arange(start, start + m)
        n_chunks = self.plan.n_chunks
        number = self.drop * cap * CHUNK * n_chunks + local * n_chunks + self.chunk + 1
        return vec.cat(prefix, vec.int_text(number, width))


@dataclass
class People:
    """Columnar attributes of a set of people (one chunk, plus new people in a drop)."""

    uid: np.ndarray  # unique person number; person_id is p + uid+1
    person_id: pa.Array
    country: np.ndarray  # index into ref.COUNTRIES
    city: np.ndarray  # index into CITY_NAMES
    first_name: pa.Array
    last_name: pa.Array
    email_old: pa.Array  # address used before t_change (the only one for most people)
    email_new: pa.Array  # address used from t_change on (null unless changer)
    changer: np.ndarray
    t_change: np.ndarray
    phone: pa.Array  # national significant number, digits only
    has_contact: np.ndarray
    has_account: np.ndarray
    has_web: np.ndarray
    marketing: np.ndarray
    guest_buyer: np.ndarray
    t_start: np.ndarray
    t_end: np.ndarray
    t_acct: np.ndarray

    @property
    def n(self) -> int:
        return int(self.uid.size)

    def email_at(self, pidx: np.ndarray, ts: np.ndarray) -> pa.Array:
        """The address each person used at time ts."""
        new = self.changer[pidx] & (ts >= self.t_change[pidx])
        idx = vec.ints(pidx)
        return vec.pick(self.email_new.take(idx), self.email_old.take(idx), new)

    def concat(self, other: People) -> People:
        values = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray):
                values[f.name] = np.concatenate([a, b])
            else:
                values[f.name] = pa.concat_arrays([a, b])
        return People(**values)


# --- static tables derived from the reference data ------------------------------------------

CITY_NAMES = vec.strings([c for country in ref.COUNTRIES for c in ref.CITIES[country]])
_CITY_COUNT = np.array([len(ref.CITIES[c]) for c in ref.COUNTRIES], dtype=np.int64)
_CITY_OFFSET = np.cumsum(_CITY_COUNT) - _CITY_COUNT

_FIRST_DISPLAY = vec.strings([f for f, _ in ref.FIRST_NAMES])
_FIRST_ASCII = vec.strings([a for _, a in ref.FIRST_NAMES])
_LAST_DISPLAY = vec.strings([f for f, _ in ref.LAST_NAMES])
_LAST_ASCII = vec.strings([a for _, a in ref.LAST_NAMES])

_DOMAINS = [d for d, _ in ref.GENERIC_DOMAINS]
for _c in ref.COUNTRIES:
    _DOMAINS += ref.COUNTRY_DOMAINS[_c]
_DOMAIN_TABLE = vec.strings(_DOMAINS)
_GENERIC_SHARE = sum(p for _, p in ref.GENERIC_DOMAINS)


def _domain_probs(country: str) -> list[float]:
    probs = [p for _, p in ref.GENERIC_DOMAINS]
    for c in ref.COUNTRIES:
        local = ref.COUNTRY_DOMAINS[c]
        share = (1 - _GENERIC_SHARE) / len(local) if c == country else 0.0
        probs += [share] * len(local)
    return probs


_DOMAIN_CDF = np.cumsum(np.array([_domain_probs(c) for c in ref.COUNTRIES]), axis=1)
_NEW_DOMAINS = vec.strings(ref.NEW_EMAIL_DOMAINS)

_EMAIL_NUMBER_MULT = 7_777_777  # coprime with powers of ten: a bijection on the number space
_PHONE_MULT = 1_000_003  # prime: a bijection on each country's phone number space


def random_city(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    u = rng.random(country.size)
    return _CITY_OFFSET[country] + (u * _CITY_COUNT[country]).astype(np.int64)


def _email_locals(style: np.ndarray, first: pa.Array, last: pa.Array) -> pa.Array:
    f_initial = pc.utf8_slice_codeunits(first, 0, 1)
    l_initial = pc.utf8_slice_codeunits(last, 0, 1)
    variants = {
        0: (first, ".", last),
        1: (first, last),
        2: (f_initial, ".", last),
        3: (first, "_", last),
        4: (first, ".", l_initial),
        5: (last, ".", first),
    }
    built = [vec.cat(*variants[i]) for i in range(len(ref.EMAIL_STYLES))]
    return pc.choose(vec.ints(style), *built)


def _phones(seed_offsets: np.ndarray, uid: np.ndarray, country: np.ndarray) -> pa.Array:
    """Unique national numbers: a bijection from uid to each country's number space."""
    parts: list[tuple[np.ndarray, pa.Array]] = []
    for ci, code in enumerate(ref.COUNTRIES):
        rows = np.flatnonzero(country == ci)
        if rows.size == 0:
            continue
        plan = ref.PHONE_PLANS[code]
        low = 10 ** (plan["subscriber"] - 1) * plan["first_digit_min"]
        per_prefix = 10 ** plan["subscriber"] - low
        space = per_prefix * len(plan["prefixes"])
        x = (uid[rows] * _PHONE_MULT + seed_offsets[ci]) % space
        prefix = vec.lookup(vec.strings(plan["prefixes"]), x // per_prefix)
        number = vec.int_text(low + x % per_prefix, plan["subscriber"])
        parts.append((rows, vec.cat(prefix, number)))
    return vec.assemble(uid.size, parts)


def make_people(
    plan: Plan,
    uid: np.ndarray,
    rng: np.random.Generator,
    window: tuple[int, int] | None = None,
) -> People:
    """Draw the people with these uids. window=None: the initial load's timeline;
    window=(start, end): people who first appear in that interval (a drop day)."""
    n = uid.size
    country = vec.choice(rng, n, ref.COUNTRY_P)
    city = random_city(rng, country)
    first = rng.integers(0, len(ref.FIRST_NAMES), n)
    last = rng.integers(0, len(ref.LAST_NAMES), n)
    style = vec.choice(rng, n, ref.EMAIL_STYLE_P)
    domain = (rng.random(n)[:, None] > _DOMAIN_CDF[country]).sum(axis=1)
    domain = np.minimum(domain, len(_DOMAINS) - 1)
    new_domain = rng.integers(0, len(ref.NEW_EMAIL_DOMAINS), n)

    has_contact = rng.random(n) < 0.6
    has_account = rng.random(n) < 0.55
    has_web = rng.random(n) < np.where(has_account, 0.85, 0.52)
    marketing = rng.random(n) < 0.65
    guest_buyer = ~has_account & (rng.random(n) < 0.15)
    # email changers are chosen among CRM contacts, whose versions keep old and new linked
    changer = has_contact & (rng.random(n) < 0.05 / 0.6)

    u_start, u_active, u_end, u_change, u_acct = rng.random((5, n))
    if window is None:
        span = ref.T1 - ref.T0 - ref.DAY
        t_start = ref.T0 + (rng.beta(1.6, 1.0, n) * span).astype(np.int64)
        recent = ref.T1 - 1 - (rng.exponential(20 * ref.DAY, n)).astype(np.int64)
        churned = t_start + (u_end * (ref.T1 - t_start)).astype(np.int64)
        t_end = np.where(u_active < 0.55, recent, churned)
        t_end = np.clip(t_end, t_start + ref.HOUR, ref.T1 - 1)
    else:
        lo, hi = window
        t_start = lo + (u_start * (hi - lo) * 0.8).astype(np.int64)
        t_end = np.full(n, hi - 1, dtype=np.int64)
        changer[:] = False
    life = t_end - t_start
    t_change = np.where(
        changer, t_start + ((0.2 + 0.6 * u_change) * life).astype(np.int64), _FAR_FUTURE
    )
    t_acct = t_start + (u_acct * 0.6 * life).astype(np.int64)

    # unique number in every address: a bijection of uid, offset by the seed
    space = plan.number_space
    offsets = np.random.SeedSequence([plan.seed % (1 << 64), 7]).generate_state(
        len(ref.COUNTRIES) + 1, dtype=np.uint64
    )
    number = vec.int_text((uid * _EMAIL_NUMBER_MULT + int(offsets[0] % space)) % space)
    first_ascii = vec.lookup(_FIRST_ASCII, first)
    last_ascii = vec.lookup(_LAST_ASCII, last)
    local = _email_locals(style, first_ascii, last_ascii)
    email_old = vec.cat(local, number, "@", vec.lookup(_DOMAIN_TABLE, domain))
    # the new address has a dot before the number, which no old address has: no collisions
    email_new = vec.cat(
        first_ascii, ".", last_ascii, ".", number, "@", vec.lookup(_NEW_DOMAINS, new_domain)
    )
    email_new = vec.null_where(email_new, ~changer)

    phone_offsets = (offsets[1:] % np.uint64(1 << 40)).astype(np.int64)
    return People(
        uid=uid,
        person_id=vec.cat("p", vec.int_text(uid + 1, 7)),
        country=country,
        city=city,
        first_name=vec.lookup(_FIRST_DISPLAY, first),
        last_name=vec.lookup(_LAST_DISPLAY, last),
        email_old=email_old,
        email_new=email_new,
        changer=changer,
        t_change=t_change,
        phone=_phones(phone_offsets, uid, country),
        has_contact=has_contact,
        has_account=has_account,
        has_web=has_web,
        marketing=marketing,
        guest_buyer=guest_buyer,
        t_start=t_start,
        t_end=t_end,
        t_acct=t_acct,
    )


def chunk_people(plan: Plan, chunk: int) -> People:
    start, stop = plan.chunk_range(chunk)
    uid = np.arange(start, stop, dtype=np.int64)
    return make_people(plan, uid, plan.rng(chunk, Stream.PEOPLE))


def new_people(plan: Plan, chunk: int, drop: int, window: tuple[int, int]) -> People:
    uid = plan.new_people_uids(chunk, drop)
    return make_people(plan, uid, plan.rng(chunk, Stream.DROP_PEOPLE, drop), window)
