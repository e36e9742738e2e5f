"""Drop K: one more day of data (2025-07-01 + K-1) for the same population.

A drop rebuilds the chunk's people and entities from the seed (no files are read), then
writes only what is new that day: browsing, identifies, email events (some arriving late),
orders and refunds, tickets, new versions of some contacts and accounts, consent changes,
deletion requests, a few brand-new people, and some links that merge profiles which were
separate until now (guest buyers opening an account, anonymous browsers identifying).
"""

from __future__ import annotations

import dataclasses

import numpy as np

import sample_data.generator.entities as ent
import sample_data.generator.reference as ref
import sample_data.generator.rows as R
import sample_data.generator.simulate as sim
import sample_data.generator.vec as vec
from sample_data.generator.population import Ids, People, Plan, Stream, chunk_people, new_people


def drop_day(drop: int) -> int:
    return ref.T1 + (drop - 1) * ref.DAY


def _shift(rows: R.Rows, offset: int) -> R.Rows:
    return dataclasses.replace(rows, truth_pidx=rows.truth_pidx + offset)


def build_drop(plan: Plan, chunk: int, drop: int) -> tuple[dict[str, R.Rows], People]:
    """The drop's rows for one chunk; truth_pidx index the returned people."""
    day = drop_day(drop)
    horizon = day + ref.DAY
    existing = chunk_people(plan, chunk)
    world = sim.build_world(plan, chunk, existing, Ids(plan, chunk, 0), ref.T1)

    ids = Ids(plan, chunk, drop)
    fresh_people = new_people(plan, chunk, drop, (day, horizon))
    fresh = sim.build_world(plan, chunk, fresh_people, ids, horizon, drop=drop, fresh=True)
    fresh_rows = sim.history(
        plan,
        chunk,
        fresh,
        ids,
        horizon,
        drop=drop,
        at_least=0,
        deletion_rate=0.0,
        tracks_per_person=3.0,
    )
    day_rows = _day_activity(plan, chunk, drop, world, ids)
    tables = {t: R.combine(t, [day_rows[t], _shift(fresh_rows[t], existing.n)]) for t in R.TABLES}
    return tables, existing.concat(fresh_people)


def _day_activity(plan: Plan, chunk: int, drop: int, W: sim.World, ids: Ids) -> dict[str, R.Rows]:
    g = plan.rng(chunk, Stream.DROP_ACTIVITY, drop)
    P, B, C, U, Od, S = W.P, W.browsers, W.contacts, W.customers, W.orders, W.consent
    n = P.n
    day = drop_day(drop)
    horizon = day + ref.DAY

    def today(k: int) -> np.ndarray:
        return day + (g.random(k) * ref.DAY).astype(np.int64)

    still = P.t_end >= ref.T1 - 45 * ref.DAY
    active = g.random(n) < np.where(still, 0.04, 0.004)

    # guest-only buyers who browse open an account today: links guest orders, browser, account
    merge = vec.sample_mask(g, n, 0.004, 1, P.guest_buyer & P.has_web)
    merged = np.flatnonzero(merge)
    t_signup = today(merged.size)
    new_customer_ids = ids.allocate("customer", t_signup)
    P_day = dataclasses.replace(
        P,
        has_account=P.has_account | merge,
        t_acct=_with(P.t_acct, merged, t_signup),
    )
    W = dataclasses.replace(
        W, P=P_day, customer_id_of=vec.put(W.customer_id_of, merge, new_customer_ids)
    )
    out: dict[str, list[R.Rows]] = {t: [] for t in R.TABLES}

    # CRM: new versions of ~1% of the contacts (some get deleted)
    r = np.flatnonzero(vec.sample_mask(g, C.m, 0.01, 0, ~C.deleted))
    t = today(r.size)
    stage = np.where(C.has_v2, C.stage2, C.stage1)[r]
    job = np.where(C.has_v2, C.job2, C.job1)[r]
    pidx = C.pidx[r]
    cols = R.contact_rows(
        g,
        P_day,
        0,
        pidx=pidx,
        contact_id=W.contact_ids.take(vec.ints(r)),
        email_ts=t,
        stage=np.where(g.random(r.size) < 0.5, ent.NEXT_STAGE[stage], stage),
        job=np.where(g.random(r.size) < 0.2, g.integers(0, len(ref.JOB_TITLES), r.size), job),
        company=C.company[r],
        city=np.where(C.has_v2[r], C.city2[r], P.city[pidx]),
        deleted=g.random(r.size) < 0.05,
        has_phone=C.has_phone[r],
        spoil_email=W.mess.contact_email[r],
        spoil_phone=W.mess.contact_phone[r],
        created=C.created[r],
        updated=t,
    )
    out["crm/contacts"].append(R.Rows(cols, t, cols["contact_id"], pidx))

    # shop accounts: new versions of ~1%, plus the accounts opened by merging guests
    r = np.flatnonzero(vec.sample_mask(g, U.m, 0.01, 0))
    t = today(r.size)
    pidx = U.pidx[r]
    cols = R.customer_rows(
        g,
        P_day,
        0,
        pidx=pidx,
        customer_id=W.customer_ids.take(vec.ints(r)),
        email_ts=U.created[r],
        city=np.where(U.has_v2[r], U.city2[r], P.city[pidx]),
        accepts=vec.choice(g, r.size, ref.ACCEPTS_MARKETING_P),
        has_phone=U.has_phone[r],
        spoil_email=W.mess.customer_email[r],
        spoil_phone=W.mess.customer_phone[r],
        created=U.created[r],
        updated=t,
    )
    out["shop/customers"].append(R.Rows(cols, t, cols["customer_id"], pidx))
    cols = R.customer_rows(
        g,
        P_day,
        0,
        pidx=merged,
        customer_id=new_customer_ids,
        email_ts=t_signup,
        city=P.city[merged],
        accepts=vec.choice(g, merged.size, ref.ACCEPTS_MARKETING_P),
        has_phone=g.random(merged.size) < 0.6,
        # the email is what ties a guest's orders to the new account
        spoil_email=np.zeros(merged.size, bool),
        spoil_phone=np.ones(merged.size, bool),
        created=t_signup,
        updated=t_signup,
    )
    out["shop/customers"].append(R.Rows(cols, t_signup, new_customer_ids, merged))

    # orders placed today (account holders, guests, newly merged accounts) with their items
    u = g.random(n)
    account_buy = np.flatnonzero(active & P.has_account & (u < 0.4))
    guest_buy = np.flatnonzero(active & P.guest_buyer & ~merge & (u < 0.3))
    merge_buy = np.flatnonzero(merge & (u < 0.3))
    pidx = np.concatenate([account_buy, guest_buy, merge_buy])
    guest = np.concatenate(
        [
            np.zeros(account_buy.size, bool),
            np.ones(guest_buy.size, bool),
            np.zeros(merge_buy.size, bool),
        ]
    )
    lo = np.concatenate([np.full(account_buy.size + guest_buy.size, day), P_day.t_acct[merge_buy]])
    ordered = vec.between(g, lo, np.full(pidx.size, horizon - 1))
    new_orders = ent.draw_orders(g, pidx, guest, ordered, horizon)
    new_order_ids = ids.allocate("order", ordered)
    orders, items = sim.orders_tables(W, new_orders, new_order_ids, g, 0)
    out["shop/orders"].append(orders)
    out["shop/order_items"].append(items)

    # refunds of recent orders from earlier days: a new version of the order
    recent = (Od.status == 0) & ~Od.has_v2 & (Od.ordered >= day - 30 * ref.DAY)
    r = np.flatnonzero(vec.sample_mask(g, Od.m, 0.004, 0, recent))
    t = today(r.size)
    full = g.random(r.size) < 0.6
    partial_amount = np.clip((Od.total[r] * g.uniform(0.1, 0.8, r.size)).astype(np.int64), 1, None)
    refunded = np.where(full, Od.total[r], np.minimum(partial_amount, Od.total[r] - 1))
    pidx = Od.pidx[r]
    cols = R.order_rows(
        g,
        P_day,
        0,
        pidx=pidx,
        order_id=W.order_ids.take(vec.ints(r)),
        customer_id=vec.null_where(W.customer_id_of.take(vec.ints(pidx)), Od.guest[r]),
        guest=Od.guest[r],
        ordered=Od.ordered[r],
        status=np.where(full, 2, 1),
        subtotal=Od.subtotal[r],
        discount=Od.discount[r],
        total=Od.total[r],
        refunded=refunded,
        updated=t,
    )
    out["shop/orders"].append(R.Rows(cols, t, cols["order_id"], pidx))

    # browsing today; ~5% of the events arrive late (up to 30 days old)
    browsing = np.flatnonzero(active & P.has_web)
    pidx = np.repeat(browsing, g.poisson(4.0, browsing.size) + 1)
    ts = today(pidx.size)
    late = g.random(pidx.size) < 0.05
    ts = np.where(late, day - g.integers(ref.MINUTE, 30 * ref.DAY, pidx.size), ts)
    parts = [
        sim.browse_tracks(W, g, pidx, ts),
        sim.order_tracks(W, new_orders, new_order_ids, g, 0.35),
        sim.signup_tracks(W, g, merged, t_signup),
    ]
    out["events/tracks"].append(sim.tracks_from(W, parts, g, 0))

    # identifies: some active browsers, every merge (browser + user id + email), and some
    # browsers that were anonymous until now identifying with an email address
    who = browsing[g.random(browsing.size) < 0.2]
    browser = B.random_of(g, who, np.full(who.size, day))
    ts = today(who.size)
    merge_browser = B.random_of(g, merged, t_signup)
    first_time = np.flatnonzero(vec.sample_mask(g, B.m, 0.003, 0, ~B.identified))
    browser = np.concatenate([browser, merge_browser, first_time])
    ts = np.concatenate([ts, t_signup + ref.SECOND, today(first_time.size)])
    forced = np.concatenate(
        [np.zeros(who.size, bool), np.ones(merged.size + first_time.size, bool)]
    )
    out["events/identifies"].append(sim.identifies_from(W, g, 0, browser, ts, forced, forced))

    # today's campaign, plus a few sends of earlier campaigns reported late
    pidx = np.flatnonzero(P.marketing & (g.random(n) < 0.028))
    late = g.random(pidx.size) < 0.05
    campaign = np.where(
        late,
        sim.campaign_before(day - g.integers(ref.HOUR, 30 * ref.DAY, pidx.size)),
        np.searchsorted(sim.CAMPAIGN_TIMES, day),
    )
    sent = sim.CAMPAIGN_TIMES[campaign] + g.integers(0, 3 * ref.HOUR, pidx.size)
    sent = np.where(late, np.minimum(sent, day - ref.MINUTE), sent)
    out["email/events"].append(sim.email_events_from(W, ids, g, 0, pidx, campaign, sent, horizon))

    pidx = np.flatnonzero(vec.sample_mask(g, n, 0.0006, 0))
    out["support/tickets"].append(sim.tickets_from(W, ids, g, 0, pidx, today(pidx.size), horizon))

    # consent: new grants (some at the merges' checkout), and revocations of earlier grants
    grant = np.flatnonzero((g.random(n) < 0.006) | (merge & (g.random(n) < 0.5)))
    use_user = P_day.has_account[grant] & (g.random(grant.size) < 0.1)
    revoke = np.flatnonzero(vec.sample_mask(g, S.m, 0.003, 0, S.granted & ~S.revoked))
    k1, k2 = grant.size, revoke.size
    out["consent/events"].append(
        sim.consent_from(
            W,
            ids,
            g,
            0,
            pidx=np.concatenate([grant, S.pidx[revoke]]),
            id_type=np.concatenate([np.where(use_user, 2, 0), S.id_type[revoke]]),
            purpose=np.concatenate([np.zeros(k1, np.int64), S.purpose[revoke]]),
            status=np.concatenate([np.zeros(k1, np.int64), np.full(k2, 2)]),
            ts=np.concatenate([today(k1), today(k2)]),
            source=np.concatenate(
                [vec.choice(g, k1, [0.5, 0.5]), vec.choice(g, k2, ref.CONSENT_REVOKE_SOURCE_P)]
            ),
        )
    )

    pidx = np.flatnonzero(vec.sample_mask(g, n, 0.0002, 1))
    out["privacy/deletion_requests"].append(
        sim.deletions_from(W, ids, g, 0, pidx, today(pidx.size))
    )
    return {t: R.combine(t, parts) for t, parts in out.items()}


def _with(values: np.ndarray, idx: np.ndarray, new: np.ndarray) -> np.ndarray:
    out = values.copy()
    out[idx] = new
    return out
