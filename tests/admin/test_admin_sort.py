"""``/connections?sort=age`` orders by when each connection was made, so a cluster's merged
list stays right although each node measures its ages when it answers."""

from __future__ import annotations

from pondsocket.admin import sort_connections


def test_age_orders_by_connection_time_not_by_ages_measured_at_different_moments() -> None:
    # alice connected 2 ms before bob; bob's node answered 5 ms after alice's did, so its
    # measured age is the larger one.
    alice = {"user_id": "alice", "age_seconds": 10.000, "connected_at": 1000.000}
    bob = {"user_id": "bob", "age_seconds": 10.003, "connected_at": 1000.002}
    assert [d["user_id"] for d in sort_connections([bob, alice], "age", 1)] == ["alice"]


def test_without_connection_times_age_orders_by_age() -> None:
    old = {"user_id": "old", "age_seconds": 50.0}
    new = {"user_id": "new", "age_seconds": 5.0, "connected_at": 1000.0}
    assert [d["user_id"] for d in sort_connections([new, old], "age", None)] == ["old", "new"]
