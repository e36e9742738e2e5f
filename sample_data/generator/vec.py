"""Vectorized building blocks: numpy draws in, pyarrow string arrays out.

Nothing here loops over rows in Python; the only Python loops are over small fixed lists
(countries, formats), so the work per row is done by numpy and Arrow kernels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import sample_data.generator.reference as ref

STR = pa.string()
NULL = pa.scalar(None, STR)


def strings(values: Sequence[str | None]) -> pa.Array:
    return pa.array(values, type=STR)


def ints(x: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(x, dtype=np.int64), type=pa.int64())


def cat(*parts: pa.Array | str) -> pa.Array:
    """Element-wise concatenation; a null part makes the result null."""
    return pc.binary_join_element_wise(*parts, "")


def lookup(table: pa.Array, idx: np.ndarray) -> pa.Array:
    """table[idx] for a small table of strings."""
    return table.take(ints(idx))


def int_text(x: np.ndarray, width: int = 0) -> pa.Array:
    text = ints(x).cast(STR)
    return pc.utf8_lpad(text, width, "0") if width else text


def mask_array(mask: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(mask, dtype=bool), type=pa.bool_())


def null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(mask_array(mask), NULL, arr)


def pick(a: pa.Array, b: pa.Array, mask: np.ndarray) -> pa.Array:
    """a where mask else b."""
    return pc.if_else(mask_array(mask), a, b)


def patch(arr: pa.Array, mask: np.ndarray, fn: Callable[[pa.Array], pa.Array]) -> pa.Array:
    """Replace the masked values by fn(masked values)."""
    if not mask.any():
        return arr
    m = mask_array(mask)
    return pc.replace_with_mask(arr, m, fn(arr.filter(m)))


def put(arr: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """Replace the masked values by `values` (one per masked row, in order)."""
    if not mask.any():
        return arr
    return pc.replace_with_mask(arr, mask_array(mask), values)


def assemble(n: int, parts: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """Build an array of n values from disjoint (row indices, values) parts covering 0..n-1."""
    if not parts:
        return pa.array([], type=STR)
    idx = np.concatenate([p[0] for p in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[idx] = np.arange(idx.size)
    return pa.concat_arrays([p[1] for p in parts]).take(ints(inverse))


# --- random draws --------------------------------------------------------------------------


def choice(rng: np.random.Generator, n: int, probs: Sequence[float]) -> np.ndarray:
    """n draws of an index with the given (unnormalized) probabilities."""
    cdf = np.cumsum(np.asarray(probs, dtype=np.float64))
    cdf /= cdf[-1]
    out = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(out, len(probs) - 1)


def sample_mask(
    rng: np.random.Generator,
    n: int,
    rate: float,
    at_least: int = 0,
    eligible: np.ndarray | None = None,
    base: int | None = None,
) -> np.ndarray:
    """A boolean mask marking about rate*base (at least `at_least`, at most all) of the
    eligible rows; base defaults to the number of eligible rows. A base larger than the pool
    keeps a rate over all rows while only the eligible ones are picked."""
    pool = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    mask = np.zeros(n, dtype=bool)
    if pool.size == 0:
        return mask
    k = int(rng.binomial(pool.size if base is None else base, rate)) if rate > 0 else 0
    k = min(pool.size, max(k, at_least))
    if k:
        mask[rng.choice(pool, size=k, replace=False)] = True
    return mask


def between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Uniform integer times in [lo, hi] (hi < lo gives lo)."""
    lo = np.asarray(lo, dtype=np.int64)
    span = np.maximum(np.asarray(hi, dtype=np.int64) - lo, 0)
    return lo + (rng.random(lo.shape) * span).astype(np.int64)


def group_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For repeat(arange(len(counts)), counts): the owner of each row and its rank within it."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(owner.size) - np.repeat(starts, counts)
    return owner, rank


# --- identifiers -----------------------------------------------------------------------------

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuid4(rng: np.random.Generator, n: int) -> pa.Array:
    """n random version-4 UUID strings drawn from rng."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.Array.from_buffers(STR, n, [None, pa.py_buffer(offsets), pa.py_buffer(out)])


# --- timestamps ------------------------------------------------------------------------------

_DAY_ZERO = 10_957  # 2000-01-01 in days since the epoch
_DATES = strings(
    np.datetime_as_string(np.arange("2000-01-01", "2101-01-01", dtype="datetime64[D]")).tolist()
)
_TWO_DIGITS = strings([f"{i:02d}" for i in range(100)])
_DATE_TIME_SEP = strings(["T", " "])
_OFFSET_SECONDS = np.array([o[1] for o in ref.UTC_OFFSETS], dtype=np.int64)
# suffix table: "Z", "", the offsets, then ".000Z" .. ".999Z"
_SUFFIXES = strings(
    ["Z", ""] + [o[0] for o in ref.UTC_OFFSETS] + [f".{i:03d}Z" for i in range(1000)]
)
_BAD_TIMESTAMPS = strings(ref.BAD_TIMESTAMPS)

# shapes: 0 "2024-03-05T14:22:01Z", 1 "2024-03-05T16:22:01+02:00", 2 "2024-03-05 14:22:01",
# 3 "2024-03-05T14:22:01.123Z"
TS_MIXED = (0.5, 0.15, 0.15, 0.2)
TS_EVENTS = (0.25, 0.05, 0.1, 0.6)  # event collectors mostly send milliseconds
TS_SHOP = (0.3, 0.45, 0.15, 0.1)  # storefronts mostly send local time with an offset


def timestamps(
    rng: np.random.Generator,
    ms: np.ndarray,
    shapes: Sequence[float] = TS_MIXED,
    bad_rate: float = 0.003,
    at_least: int = 0,
    eligible: np.ndarray | None = None,
) -> pa.Array:
    """ISO 8601 text for UTC epoch milliseconds, in mixed shapes, some unparseable (about
    bad_rate of all values, picked among the eligible rows)."""
    ms = np.asarray(ms, dtype=np.int64)
    n = ms.size
    shape = choice(rng, n, shapes)
    offset = rng.integers(0, len(ref.UTC_OFFSETS), n)
    local = ms // 1000 + np.where(shape == 1, _OFFSET_SECONDS[offset], 0)
    days = np.clip(local // 86_400 - _DAY_ZERO, 0, len(_DATES) - 1)
    tod = local % 86_400
    suffix = np.select(
        [shape == 0, shape == 2, shape == 1],
        [0, 1, 2 + offset],
        default=2 + len(ref.UTC_OFFSETS) + ms % 1000,
    )
    text = pc.binary_join_element_wise(
        lookup(_DATES, days),
        lookup(_DATE_TIME_SEP, (shape == 2).astype(np.int64)),
        lookup(_TWO_DIGITS, tod // 3600),
        ":",
        lookup(_TWO_DIGITS, tod // 60 % 60),
        ":",
        lookup(_TWO_DIGITS, tod % 60),
        lookup(_SUFFIXES, suffix),
        "",
    )
    if bad_rate > 0 or at_least:
        bad = sample_mask(rng, n, bad_rate, at_least, eligible, base=n)
        text = put(
            text, bad, lookup(_BAD_TIMESTAMPS, rng.integers(0, len(_BAD_TIMESTAMPS), bad.sum()))
        )
    return text


def readable(text: pa.Array) -> np.ndarray:
    """Which values written by `timestamps` are not one of the unparseable ones."""
    good = pc.match_substring_regex(text, r"^\d{4}-(0[1-9]|1[0-2])-")
    return np.asarray(pc.fill_null(good, False))


# --- money -------------------------------------------------------------------------------------

_BAD_AMOUNTS = strings(ref.BAD_AMOUNTS)


def money(cents: np.ndarray) -> pa.Array:
    """Two-decimal text for integer cents."""
    cents = np.asarray(cents, dtype=np.int64)
    return cat(int_text(cents // 100), ".", lookup(_TWO_DIGITS, cents % 100))


def bad_amounts(rng: np.random.Generator, n: int) -> pa.Array:
    return lookup(_BAD_AMOUNTS, rng.integers(0, len(_BAD_AMOUNTS), n))


# --- emails ----------------------------------------------------------------------------------

_SPACES = strings(["", " ", "  "])
_PLACEHOLDER_EMAILS = strings(ref.PLACEHOLDER_EMAILS)


def _invalid_emails(rng: np.random.Generator, e: pa.Array) -> pa.Array:
    kind = rng.integers(0, 4, len(e))
    parts = [
        (np.flatnonzero(kind == 0), lambda x: pc.replace_substring(x, "@", " at ")),
        (np.flatnonzero(kind == 1), lambda x: pc.replace_substring_regex(x, "@.*$", "@")),
        (np.flatnonzero(kind == 2), lambda x: pc.replace_substring(x, "@", "")),
        (
            np.flatnonzero(kind == 3),
            lambda x: pa.array(["n/a"] * len(x), type=STR),
        ),
    ]
    return assemble(len(e), [(i, fn(e.take(ints(i)))) for i, fn in parts])


def messy_emails(
    rng: np.random.Generator,
    e: pa.Array,
    case_rate: float = 0.15,
    invalid_rate: float = 0.005,
    at_least: int = 0,
    invalid_ok: np.ndarray | None = None,
) -> pa.Array:
    """Mixed case and stray spaces on ~case_rate of the values, unparseable ones on about
    invalid_rate of them, picked among the rows where invalid_ok (default: all)."""
    n = len(e)
    present = np.asarray(e.is_valid())
    kind = choice(rng, n, [1 - case_rate, case_rate * 0.3, case_rate * 0.15, case_rate * 0.55])
    also_title = rng.random(n) < 0.5
    title = (kind == 1) | ((kind == 3) & also_title)
    e = patch(e, title & present, pc.utf8_title)
    e = patch(e, (kind == 2) & present, pc.utf8_upper)
    spaced = (kind == 3) & present
    if spaced.any():
        k = int(spaced.sum())
        left = rng.integers(0, 3, k)
        right = np.where(left == 0, rng.integers(1, 3, k), rng.integers(0, 3, k))
        e = patch(e, spaced, lambda x: cat(lookup(_SPACES, left), x, lookup(_SPACES, right)))
    ok = present & (kind == 0)
    if invalid_ok is not None:
        ok &= invalid_ok
    bad = sample_mask(rng, n, invalid_rate, at_least, ok, base=int(present.sum()))
    return patch(e, bad, lambda x: _invalid_emails(rng, x))


def placeholder_emails(
    rng: np.random.Generator,
    e: pa.Array,
    rate: float,
    at_least: int = 0,
    eligible: np.ndarray | None = None,
) -> pa.Array:
    """Placeholders on about `rate` of the values, picked among the eligible ones."""
    n = len(e)
    present = np.asarray(e.is_valid())
    ok = present if eligible is None else eligible & present
    mask = sample_mask(rng, n, rate, at_least, ok, base=int(present.sum()))
    k = int(mask.sum())
    return put(e, mask, lookup(_PLACEHOLDER_EMAILS, rng.integers(0, 3, k)))


# --- phones ------------------------------------------------------------------------------------


def _parse_template(template: str) -> list[str | tuple[int, int]]:
    """'+1 (###) ###' -> ['+1 (', (0, 3), ') ', (3, 6)]"""
    out: list[str | tuple[int, int]] = []
    pos = 0
    i = 0
    while i < len(template):
        if template[i] == "#":
            j = i
            while j < len(template) and template[j] == "#":
                j += 1
            out.append((pos, pos + j - i))
            pos += j - i
            i = j
        else:
            j = i
            while j < len(template) and template[j] != "#":
                j += 1
            out.append(template[i:j])
            i = j
    return out


_PHONE_TEMPLATES = [
    (
        [_parse_template(t) for t, _ in ref.PHONE_PLANS[c]["templates"]],
        [w for _, w in ref.PHONE_PLANS[c]["templates"]],
    )
    for c in ref.COUNTRIES
]
_INTERNATIONAL = [
    [t.startswith(("+", "00")) for t, _ in ref.PHONE_PLANS[c]["templates"]] for c in ref.COUNTRIES
]
_PLACEHOLDER_PHONES = strings(ref.PLACEHOLDER_PHONES)
_BAD_PHONES = strings(ref.BAD_PHONES)


def format_phones(
    rng: np.random.Generator,
    country: np.ndarray,
    national: pa.Array,
    international: bool = False,
) -> pa.Array:
    """Write national numbers in one of the formats people use in each country.

    international=True: only formats that carry the country code (for values that come
    without a country column, such as consent identifiers), except in North America.
    """
    n = len(national)
    parts: list[tuple[np.ndarray, pa.Array]] = []
    for ci, (templates, weights) in enumerate(_PHONE_TEMPLATES):
        rows = np.flatnonzero(country == ci)
        if rows.size == 0:
            continue
        if international and ref.COUNTRIES[ci] not in ("US", "CA"):
            weights = [w if _INTERNATIONAL[ci][i] else 0.0 for i, w in enumerate(weights)]
        which = choice(rng, rows.size, weights)
        for ti, segments in enumerate(templates):
            sel = rows[which == ti]
            if sel.size == 0:
                continue
            digits = national.take(ints(sel))
            pieces = [
                s if isinstance(s, str) else pc.utf8_slice_codeunits(digits, s[0], s[1])
                for s in segments
            ]
            parts.append((sel, cat(*pieces) if len(pieces) > 1 else pieces[0]))
    return assemble(n, parts)


def messy_phones(
    rng: np.random.Generator,
    phones: pa.Array,
    placeholder_rate: float = 0.0,
    bad_rate: float = 0.005,
    at_least: int = 0,
    eligible: np.ndarray | None = None,
) -> pa.Array:
    """Placeholders and garbage on about placeholder_rate and bad_rate of the numbers present,
    picked among the eligible rows (default: all)."""
    n = len(phones)
    present = np.asarray(phones.is_valid())
    base = int(present.sum())
    ok = present if eligible is None else present & eligible
    if placeholder_rate > 0:
        mask = sample_mask(rng, n, placeholder_rate, at_least, ok, base)
        phones = put(phones, mask, lookup(_PLACEHOLDER_PHONES, rng.integers(0, 3, mask.sum())))
        ok &= ~mask
    bad = sample_mask(rng, n, bad_rate, at_least, ok, base)
    return put(phones, bad, lookup(_BAD_PHONES, rng.integers(0, len(_BAD_PHONES), bad.sum())))


# --- names -------------------------------------------------------------------------------------


def messy_names(rng: np.random.Generator, names: pa.Array, rate: float = 0.02) -> pa.Array:
    kind = choice(rng, len(names), [1 - rate, rate / 2, rate / 2])
    names = patch(names, kind == 1, pc.utf8_upper)
    return patch(names, kind == 2, pc.utf8_lower)
