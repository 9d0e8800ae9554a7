"""Presence diffs across the cluster: another node's joins and leaves reach a diff client
of this node as DIFFs (through the channel's replica)."""

from __future__ import annotations

from typing import Any

from pondsocket import LocalBus
from tests.cluster.frames import WAIT
from tests.cluster.inproc import CHAN, Node
from tests.core.helpers import connect, join_msg


async def next_presence(transport: Any) -> dict[str, Any]:
    while True:
        frame = await transport.receive_json(wait=WAIT)
        if frame["action"] == "PRESENCE":
            return frame


async def test_remote_joins_and_leaves_arrive_as_diffs() -> None:
    bus = LocalBus()
    a = Node(bus, "a", presence_coalesce_window=0.01)
    b = Node(bus, "b", presence_coalesce_window=0.01)
    try:
        alice = await connect(a.endpoint, "alice", extensions=frozenset({"presence-diff"}))
        await alice.push_inbound(join_msg(CHAN, {"name": "alice"}))
        state = await next_presence(alice)
        assert state["event"] == "STATE"
        assert list(state["payload"]["state"].values()) == [{"name": "alice"}]
        bob = await b.join("bob")
        diff = await next_presence(alice)
        assert diff["event"] == "DIFF"
        ((key, entry),) = diff["payload"]["joins"].items()
        assert entry == {"name": "bob"} and key != "bob" and key not in state["payload"]["state"]
        await bob.leave()
        diff = await next_presence(alice)
        assert (diff["event"], diff["payload"]) == ("DIFF", {"joins": {},
                                                            "leaves": {key: {"name": "bob"}}})
    finally:
        await a.pond.close()
        await b.pond.close()
