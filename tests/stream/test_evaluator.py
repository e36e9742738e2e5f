"""The real-time evaluator: identity on the stream, windows on time, exits, crashes."""

from __future__ import annotations

import pytest

from tests.stream.conftest import identify, pick_customer, track

CART = "seg_cart_abandoners"


def _members(stream, segment=CART) -> set[str]:
    return {
        customer
        for (customer,) in stream.state(
            "select customer_id from rt.current_members where segment_name = ?", [segment]
        )
    }


def _changes(stream, customer: str, segment=CART) -> list[tuple[str, str]]:
    return stream.state(
        "select change, reason from realtime_memberships"
        " where segment_name = ? and customer_id = ? order by change_id",
        [segment, customer],
    )


def test_the_first_snapshot_starts_from_the_batch_memberships(stream, rt_warehouse):
    stream.evaluate()
    import duckdb

    with duckdb.connect(str(rt_warehouse), read_only=True) as connection:
        batch = {
            row[0]
            for row in connection.execute(f"select customer_id from segments.{CART}").fetchall()
        }
    assert batch, "the sample has cart abandoners"
    assert _members(stream) == batch


def test_an_anonymous_visitor_who_identifies_mid_session_enters(stream, rt_warehouse):
    customer, shop_id, _email = pick_customer(rt_warehouse)
    stream.evaluate()
    now = stream.clock()
    stream.append(track("Product Viewed", now, "m-1", anonymousId="anon-visitor"))
    stream.append(track("Product Added", now, "m-2", anonymousId="anon-visitor"))
    stream.evaluate()
    assert customer not in _members(stream)
    (provisional,) = stream.state("select customer_id from rt.provisional")
    assert provisional[0].startswith("rt-")

    stream.clock.advance(minutes=1)
    stream.append(identify(stream.clock(), "m-3", anonymousId="anon-visitor", userId=shop_id))
    stream.evaluate()
    assert customer in _members(stream)
    assert _changes(stream, customer) == [("entered", "event")]
    # The provisional person is merged: no one is left behind in the segment.
    assert provisional[0] not in _members(stream)
    assert stream.state("select count(*) from rt.provisional") == [(0,)]
    # The same anonymous id now counts for the person at once.
    assert stream.state(
        "select count(*) from rt.stream_events where customer_id = ?", [customer]
    ) == [(1,)]


def test_an_identify_by_email_links_the_anonymous_id_for_the_next_events(stream, rt_warehouse):
    customer, _shop_id, email = pick_customer(rt_warehouse)
    stream.evaluate()
    now = stream.clock()
    stream.append(identify(now, "i-1", anonymousId="anon-2", traits={"email": email.upper()}))
    stream.append(track("Product Added", now, "t-1", anonymousId="anon-2"))
    stream.evaluate()
    assert customer in _members(stream)


def test_window_expiry_exits_on_time_without_another_event(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    added_at = stream.clock()
    stream.append(track("Product Added", added_at, "w-1", userId=shop_id))
    stream.evaluate()
    assert customer in _members(stream)
    (due,) = stream.state(
        "select due_at from rt.due where segment_name = ? and customer_id = ?", [CART, customer]
    )
    assert due[0] == added_at.replace(tzinfo=None) + __import__("datetime").timedelta(days=7)

    stream.clock.advance(days=6, hours=23)
    stream.evaluate()
    assert customer in _members(stream)
    stream.clock.advance(hours=1, seconds=1)
    assert stream.evaluator.step() is True  # no event: the due change alone
    assert customer not in _members(stream)
    assert _changes(stream, customer) == [("entered", "event"), ("exited", "time")]


def test_an_event_stamped_ahead_of_the_evaluation_counts_when_its_time_comes(stream, rt_warehouse):
    """A client clock a little ahead, or an event that arrived while a step was under way:
    not yet counted (as the build, only what happened up to now counts), and due at its time."""
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    ahead = stream.clock() + __import__("datetime").timedelta(seconds=30)
    stream.append(track("Product Added", ahead, "f-1", userId=shop_id))
    stream.evaluate()
    assert customer not in _members(stream)
    stream.clock.advance(seconds=31)
    assert stream.evaluator.step() is True  # no new event: the due time alone
    assert customer in _members(stream)
    assert _changes(stream, customer) == [("entered", "time")]


def test_a_purchase_after_the_cart_exits_at_once(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    stream.append(track("Product Added", stream.clock(), "p-1", userId=shop_id))
    stream.evaluate()
    assert customer in _members(stream)
    stream.clock.advance(minutes=5)
    stream.append(track("Order Completed", stream.clock(), "p-2", userId=shop_id))
    stream.evaluate()
    assert customer not in _members(stream)
    assert _changes(stream, customer)[-1] == ("exited", "event")
    # A new cart after the purchase makes them a cart abandoner again.
    stream.clock.advance(minutes=5)
    stream.append(track("Product Added", stream.clock(), "p-3", userId=shop_id))
    stream.evaluate()
    assert customer in _members(stream)


def test_a_redelivered_message_counts_once(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    event = track("Product Added", stream.clock(), "dup-1", userId=shop_id)
    stream.append(event, event)
    stream.append(event)
    stream.evaluate()
    assert stream.state("select count(*) from rt.stream_events where message_id = 'dup-1'") == [
        (1,)
    ]
    assert _changes(stream, customer) == [("entered", "event")]


def test_a_crash_before_the_commit_replays_without_double_effects(
    stream, rt_warehouse, monkeypatch
):
    customer, shop_id, _ = pick_customer(rt_warehouse)
    stream.evaluate()
    stream.append(track("Product Added", stream.clock(), "c-1", userId=shop_id))
    evaluator = stream.evaluator

    def crash(offset):
        raise RuntimeError("killed")

    monkeypatch.setattr(evaluator, "_commit_offset", crash)
    with pytest.raises(RuntimeError):
        evaluator.step()
    monkeypatch.undo()
    assert customer not in _members(stream)  # nothing of the step stayed
    stream.stop()
    stream.start()
    stream.evaluate()
    assert _changes(stream, customer) == [("entered", "event")]
    assert stream.evaluator.committed_offset() == 1


def test_holdout_members_are_members_marked_held_out(stream, rt_warehouse):
    customer, shop_id, _ = pick_customer(rt_warehouse, held_out=True)
    stream.evaluate()
    stream.append(track("Product Added", stream.clock(), "h-1", userId=shop_id))
    stream.evaluate()
    assert stream.state(
        "select is_holdout from rt.current_members where segment_name = ? and customer_id = ?",
        [CART, customer],
    ) == [(True,)]
