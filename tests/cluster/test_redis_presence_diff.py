"""Presence diffs across two uvicorn nodes over a real redis-server: SDK clients (which ask
for ``presence-diff``) and a raw diff client follow joins, updates and leaves made on either
node through ``STATE`` and ``DIFF``; a raw upstream client in the same channel keeps getting
upstream frames; and a SIGKILLed node's member leaves everyone's presence within the
documented failure-detection time (docs/cluster.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from pondsocket_tools.client import PondClient
from tests.cluster.frames import Frame, is_presence, names
from tests.cluster.procs import WSClient
from tests.sdkflow import until_presence

pytestmark = pytest.mark.timeout(60)

ROOM = "/chat/diffs"
DIFF_QUERY = "?pond_ext=presence-diff"
INTERVAL, TIMEOUT = 0.5, 2.0  # heartbeat: a dead node's members leave in 1.125 x TIMEOUT
# after its last message; the kill is after that message. Margins for a busy machine: a
# sweep timer firing late, the coalescing window (50 ms), a frame crossing a WebSocket.
LATE_MARGIN = 0.4


class DiffView:
    """The channel's presence as a raw diff client's ``STATE`` and ``DIFF`` frames describe
    it: opaque key -> presence entry."""

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}
        self.own_key = ""
        self.events: list[str] = []  # STATE / DIFF, in order

    def apply(self, frame: Frame) -> None:
        if frame["action"] != "PRESENCE":
            return
        payload = frame["payload"]
        assert frame["event"] in ("STATE", "DIFF"), frame  # never an upstream frame
        self.events.append(frame["event"])
        if frame["event"] == "STATE":
            self.state, self.own_key = dict(payload["state"]), payload["self"]
            return
        assert not set(payload["joins"]) & set(payload["leaves"]), payload
        for key in payload["leaves"]:
            self.state.pop(key)
        self.state.update(payload["joins"])

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {entry["name"]: entry for entry in self.state.values()}

    async def until(self, client: WSClient, done: Callable[[DiffView], bool],
                    what: str) -> Frame | None:
        """Read ``client``'s frames until ``done(self)``; the frame that made it so."""
        if done(self):
            return None

        def applied(frame: Frame) -> bool:
            self.apply(frame)
            return done(self)

        frame, _ = await client.wait_for(applied, what=what)
        return frame


def named(*wanted: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda presence: sorted(p["name"] for p in presence) == sorted(wanted)


async def test_diffs_across_nodes_and_a_killed_node(spawn_nodes, ws_client) -> None:
    n1, n2 = await spawn_nodes(2, heartbeat_interval=INTERVAL, heartbeat_timeout=TIMEOUT)
    async with PondClient(n1.ws_url) as ada_sdk, PondClient(n2.ws_url) as bob_sdk, \
            PondClient(n2.ws_url) as cleo_sdk:
        ada = await ada_sdk.join(ROOM, {"name": "ada"})
        bob = await bob_sdk.join(ROOM, {"name": "bob"})
        cleo = await cleo_sdk.join(ROOM, {"name": "cleo"})
        assert all("presence-diff" in c.extensions for c in (ada_sdk, bob_sdk, cleo_sdk))
        dora: WSClient = await ws_client(n1, "dora", DIFF_QUERY)
        await dora.join(ROOM, "dora")
        upton: WSClient = await ws_client(n1, "upton")  # asks for nothing: upstream frames
        await upton.join(ROOM, "upton")
        everyone = ("ada", "bob", "cleo", "dora", "upton")

        # Joins on both nodes: every kind of client ends up with all five.
        view = DiffView()
        await view.until(dora, lambda v: sorted(v.by_name()) == sorted(everyone), "all five")
        assert view.events[0] == "STATE" and view.own_key in view.state
        assert view.by_name()["dora"] is view.state[view.own_key]
        # keys are opaque per-channel keys, not the members' user ids
        assert not {dora.id, upton.id} & set(view.state)
        for chat in (ada, bob, cleo):
            await until_presence(chat, named(*everyone))
        await upton.wait_presence(set(everyone))

        # An update on node 2 reaches node 1 as a DIFF (same key, new entry), as an
        # upstream UPDATE, and in the SDK's presence and its UPDATE event.
        bob_key = next(k for k, e in view.state.items() if e["name"] == "bob")
        updates = ada.presence_events()
        await bob.send("status", {"name": "bob", "status": "away"})
        frame = await view.until(dora, lambda v: v.state.get(bob_key, {}).get("status")
                                 == "away", "bob's update")
        assert frame is not None and frame["event"] == "DIFF"
        assert frame["payload"]["joins"] == {bob_key: {"name": "bob", "status": "away"}}
        update, _ = await upton.wait_for(is_presence("UPDATE", "bob"), what="bob's UPDATE")
        assert update["payload"]["changed"] == {"name": "bob", "status": "away"}
        event = await updates.get(10)
        while event.kind == "JOIN":  # the subscription starts with the joins it buffered
            event = await updates.get(10)
        assert (event.kind, event.changed) == ("UPDATE", {"name": "bob", "status": "away"})

        # A leave on node 2.
        await cleo.leave()
        await view.until(dora, lambda v: "cleo" not in v.by_name(), "cleo's leave")
        leave, _ = await upton.wait_for(is_presence("LEAVE", "cleo"), what="cleo's LEAVE")
        assert sorted(names(leave)) == ["ada", "bob", "dora", "upton"]
        await until_presence(ada, named("ada", "bob", "dora", "upton"))

        # Node 2 dies (SIGKILL): bob leaves everyone's presence in the detection time.
        killed_mono, killed_wall = time.monotonic(), time.time()
        n2.kill()
        await until_presence(ada, named("ada", "dora", "upton"), timeout=3 * TIMEOUT)
        sdk_after = time.time() - killed_wall
        frame = await view.until(dora, lambda v: "bob" not in v.by_name(), "bob's leave")
        assert frame is not None
        assert frame["payload"] == {"joins": {}, "leaves": {bob_key: {"name": "bob",
                                                                     "status": "away"}}}
        diff_after = next(t for t, f in dora.seen if f is frame) - killed_mono
        leave, _ = await upton.wait_for(is_presence("LEAVE", "bob"), what="bob's LEAVE")
        upstream_after = next(t for t, f in upton.seen if f is leave) - killed_mono
        assert sorted(names(leave)) == ["ada", "dora", "upton"]
        bound = 1.125 * TIMEOUT + LATE_MARGIN
        print(f"bob left {sdk_after:.2f} s (SDK), {diff_after:.2f} s (diff), "
              f"{upstream_after:.2f} s (upstream) after the SIGKILL")
        assert max(sdk_after, diff_after, upstream_after) <= bound
