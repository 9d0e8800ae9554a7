"""Reorderer: each stream's items released in sequence order, with a bounded wait."""

from __future__ import annotations

from pondsocket.cluster.reorder import Reorderer


def test_in_order_items_pass_straight_through() -> None:
    order: Reorderer[str, str] = Reorderer(hold=1.0)
    assert order.accept("k", "t", 7, "a", now=0) == ["a"]  # the first seen sets the start
    assert order.accept("k", "t", 8, "b", now=0) == ["b"]
    assert order.held_count == 0 and order.next_expiry() is None


def test_a_gap_holds_later_items_until_it_fills() -> None:
    order: Reorderer[str, str] = Reorderer(hold=1.0)
    order.accept("k", "t", 1, "m1", now=0)
    assert order.accept("k", "t", 4, "m4", now=10) == []
    assert order.accept("k", "t", 3, "m3", now=10.2) == []
    assert order.held_count == 2 and order.next_expiry() == 11
    assert order.accept("k", "t", 2, "m2", now=10.5) == ["m2", "m3", "m4"]
    assert order.held_count == 0 and order.next_expiry() is None
    assert order.accept("k", "t", 5, "m5", now=10.6) == ["m5"]


def test_a_gap_that_never_fills_is_given_up_after_the_hold() -> None:
    order: Reorderer[str, str] = Reorderer(hold=1.0)
    order.accept("k", "t", 1, "m1", now=0)
    order.accept("k", "t", 3, "m3", now=5)
    order.accept("k", "t", 5, "m5", now=5.5)
    assert order.expired(now=5.9) == []
    assert order.expired(now=6.0) == [("k", ["m3", "m5"])]
    assert order.accept("k", "t", 6, "m6", now=6.1) == ["m6"]  # moved on past the gap
    assert order.accept("k", "t", 2, "m2", now=6.2) == ["m2"]  # late, but not lost


def test_streams_are_independent_and_a_new_token_starts_again() -> None:
    order: Reorderer[str, str] = Reorderer(hold=1.0)
    order.accept("a", "t", 1, "a1", now=0)
    order.accept("b", "t", 1, "b1", now=0)
    assert order.accept("a", "t", 3, "a3", now=1) == []
    assert order.accept("b", "t", 2, "b2", now=1) == ["b2"]
    # The channel was recreated on the sender (or it restarted): numbering starts over.
    assert order.accept("a", "new", 1, "x1", now=2) == ["x1"]
    assert order.held_count == 0


def test_forget_returns_what_was_held_in_order() -> None:
    order: Reorderer[str, str] = Reorderer(hold=1.0)
    order.accept(("n1", "c"), "t", 1, "m1", now=0)
    order.accept(("n1", "c"), "t", 4, "m4", now=0)
    order.accept(("n1", "c"), "t", 3, "m3", now=0)
    order.accept(("n2", "c"), "t", 1, "other", now=0)
    assert order.forget(lambda key: key[0] == "n1") == ["m3", "m4"]
    assert order.accept(("n1", "c"), "t", 9, "m9", now=1) == ["m9"]  # a fresh start


def test_start_says_where_a_stream_stands() -> None:
    order: Reorderer[str, str] = Reorderer(hold=1.0)
    order.start("k", "t", 3)  # the sender had numbered 2 messages
    assert order.accept("k", "t", 5, "m5", now=0) == []  # 3 and 4 are missing
    order.start("k", "t", 99)  # already followed: ignored
    assert order.accept("k", "t", 3, "m3", now=0) == ["m3"]
    assert order.accept("k", "t", 4, "m4", now=0) == ["m4", "m5"]
