"""The admin API of one node shows and acts on the whole cluster: two nodes served by real
uvicorn servers, sharing channels over an in-process bus (``tests/cluster`` runs the same
against real Redis and node processes)."""

from __future__ import annotations

import asyncio
from typing import Any

from pondsocket import AdminOptions, LocalBus, LocalPubSub, Options

from .conftest import TOKEN
from .test_admin_documents import ENCODED, ROOM, join_tracked

OPTIONS = Options(heartbeat_interval=0.2, heartbeat_timeout=5)


async def until(client: Any, action: str, event: str, **payload: Any) -> dict[str, Any]:
    """The next frame of ``action``/``event`` whose payload has ``payload``'s items; frames
    of the other node's members may come in between, in either order."""
    while True:
        frame = await client.recv()
        if ((frame["action"], frame["event"]) == (action, event)
                and all(frame["payload"].get(k) == v for k, v in payload.items())):
            return frame


async def two_nodes(admin_env: Any, **admin: Any) -> tuple[Any, Any]:
    """Nodes A and B on one bus, each with the admin API; returns when each knows the
    other (B's first heartbeat reaches A at once, A's reaches B within an interval)."""
    bus = LocalBus()
    nodes = []
    for name in ("node-a", "node-b"):
        options = Options(heartbeat_interval=OPTIONS.heartbeat_interval,
                          heartbeat_timeout=OPTIONS.heartbeat_timeout, node_id=name)
        node = await admin_env.start(AdminOptions(token=TOKEN, **admin),
                                     pubsub=LocalPubSub(bus=bus), options=options)
        nodes.append(node)
    a, b = nodes
    async with asyncio.timeout(5):
        while not ("node-b" in a.app.pond.cluster.nodes and "node-a" in b.app.pond.cluster.nodes):
            await asyncio.sleep(0.02)  # no event for "heard a heartbeat": a bounded poll
    return a, b


async def test_documents_are_aggregated_across_nodes(admin_env: Any) -> None:
    a, b = await two_nodes(admin_env)
    alice = await admin_env.ws(a, "alice")
    bob = await admin_env.ws(b, "bob")
    await join_tracked(alice)
    await join_tracked(bob)
    await until(alice, "PRESENCE", "JOIN")  # bob's, from node B: the cluster is up
    await until(bob, "PRESENCE", "JOIN")  # alice's, from node A

    overview = await a.json("/overview")
    assert overview["scope"] == "cluster" and overview["node_id"] == "node-a"
    assert [(n["node_id"], n["ok"]) for n in overview["nodes"]] == [
        ("node-a", True), ("node-b", True)]
    assert [n["connection_count"] for n in overview["nodes"]] == [1, 1]
    assert overview["connection_count"] == 2 and overview["member_count"] == 2
    assert overview["channel_count"] == 1  # on both nodes, counted once
    assert overview["counters"]["connections_opened"] == 2
    local = await a.json("/overview?scope=local")
    assert local["scope"] == "local" and local["connection_count"] == 1
    assert [n["node_id"] for n in local["nodes"]] == ["node-a"]

    endpoints = {e["path"]: e for e in (await a.json("/endpoints"))["endpoints"]}
    assert endpoints["/api/socket"]["connection_count"] == 2

    [channel] = (await a.json("/channels"))["channels"]
    assert (channel["member_count"], channel["remote_member_count"]) == (1, 1)
    assert channel["node_ids"] == ["node-a", "node-b"]

    detail = await b.json(f"/channels/{ENCODED}")  # asked of B this time
    members = {m["user_id"]: m for m in detail["members"]}
    assert members[bob.user_id]["node"] == "local"
    assert members[alice.user_id]["node"] == "node-a"
    assert members[alice.user_id]["presence"] == {"name": "alice"}
    assert isinstance(members[alice.user_id]["joined_at"], float)  # from A's own document

    connections = {c["user_id"]: c for c in (await a.json("/connections"))["connections"]}
    assert connections[alice.user_id]["node"] == "local"
    assert connections[bob.user_id]["node"] == "node-b"
    assert connections[bob.user_id]["channels"] == [ROOM]
    first = await a.json("/connections?limit=1")  # the oldest of both nodes: alice's
    assert first["total"] == 2
    assert [c["user_id"] for c in first["connections"]] == [alice.user_id]

    # Messages sent on either node are summed once.
    await bob.send_msg("BROADCAST", ROOM, "shout", {"text": "from b"})
    for client in (alice, bob):
        await until(client, "BROADCAST", "shout")
    [channel] = (await a.json("/channels"))["channels"]
    assert channel["messages_received"] == 1 and channel["messages_broadcast"] == 1
    assert channel["frames_delivered"] >= 2  # the shout on each node, plus presence

    metrics = (await a.get("/metrics?scope=cluster")).text
    assert 'pondsocket_connections{node="node-a"} 1' in metrics
    assert 'pondsocket_connections{node="node-b"} 1' in metrics
    assert "pondsocket_connections 1" in (await a.get("/metrics")).text


async def test_event_stream_carries_every_nodes_activity(admin_env: Any) -> None:
    a, b = await two_nodes(admin_env)
    events = await admin_env.events(a, f"?channel={ROOM}")
    await events.expect("subscribed", node="node-b", channel=ROOM)
    local = await admin_env.events(a, "?scope=local")
    bob = await admin_env.ws(b, "bob")
    await join_tracked(bob)
    await events.expect("join", node="node-b", user_id=bob.user_id)
    await events.expect("presence", node="node-b", kind="JOIN")
    alice = await admin_env.ws(a, "alice")
    await join_tracked(alice)
    # Each node's events in its own order; the two nodes' interleave.
    seen = [await events.next() for _ in range(4)]  # A: join + presence; B: presence
    assert {(e["node"], e["type"]) for e in seen} >= {("node-a", "join"),
                                                     ("node-a", "presence"),
                                                     ("node-b", "presence")}
    # The local stream saw only node A's.
    first = await local.next()
    assert (first["type"], first["node"]) == ("join", "node-a")

    # Once the stream is closed, B stops forwarding (it is told at once).
    forwarders = b.app.pond.cluster_admin._forwarders
    assert len(forwarders) == 1  # the local-scope stream asked nothing of B
    await events.response.aclose()
    await local.response.aclose()
    async with asyncio.timeout(5):
        while forwarders:
            await asyncio.sleep(0.02)


async def test_write_actions_reach_the_node_of_the_user(admin_env: Any) -> None:
    a, b = await two_nodes(admin_env, allow_writes=True)
    alice = await admin_env.ws(a, "alice")
    bob = await admin_env.ws(b, "bob")
    await join_tracked(alice)
    await join_tracked(bob)
    await until(alice, "PRESENCE", "JOIN")

    response = await a.post(f"/channels/{ENCODED}/evict", {"user_id": bob.user_id})
    assert response.status_code == 200, response.text
    assert response.json()["node_ids"] == ["node-b"]
    await until(bob, "SYSTEM", "EVICTED", reason="Evicted by admin")
    await until(alice, "PRESENCE", "LEAVE")
    response = await a.post(f"/channels/{ENCODED}/evict", {"user_id": bob.user_id})
    assert response.status_code == 404

    await join_tracked(bob)
    await until(alice, "PRESENCE", "JOIN")
    response = await b.post(f"/channels/{ENCODED}/close", {"reason": "maintenance"})
    assert response.status_code == 200
    assert response.json()["node_ids"] == ["node-b", "node-a"]  # the asked node first
    for client in (alice, bob):
        await until(client, "SYSTEM", "EVICTED", reason="maintenance")
    assert (await a.json("/channels"))["channels"] == []


async def test_a_malformed_answer_is_reported_not_fatal(admin_env: Any) -> None:
    """Another process on the bus (another version, say) speaks the heartbeat but answers
    admin queries with garbage: the asked node reports it and still answers."""
    import json
    import time

    bus = LocalBus()
    a = await admin_env.start(AdminOptions(token=TOKEN), pubsub=LocalPubSub(bus=bus),
                              options=Options(node_id="node-a"))
    rogue = LocalPubSub(bus=bus)
    base = "pondsocket:v1:default"

    def envelope(kind: str, endpoint: str, channel: str, **fields: Any) -> bytes:
        return json.dumps({"protocol": "pondsocket.distributed", "version": 1, "type": kind,
                           "messageId": f"rogue-{time.monotonic_ns()}",
                           "sourceNodeId": "rogue", "endpointName": endpoint,
                           "channelName": channel, "timestamp": int(time.time() * 1000),
                           **fields}).encode()

    async def answer(topic: str, data: bytes) -> None:
        message = json.loads(data)
        if message.get("type") == "ADMIN_QUERY":  # not a document; then one missing fields
            document = "garbage" if message["query"] == "overview" else {"channels": [{}]}
            await rogue.publish(f"{base}:__admin__:node-a", envelope(
                "ADMIN_REPLY", "__admin__", "node-a", queryId=message["queryId"],
                document=document))

    await rogue.subscribe(f"{base}:__admin__:*", answer)
    try:
        await rogue.publish(f"{base}:__heartbeat__", envelope(
            "NODE_HEARTBEAT", "__heartbeat__", "__heartbeat__", nodeId="rogue",
            incarnation="x"))
        async with asyncio.timeout(5):
            while "rogue" not in a.app.pond.cluster.nodes:
                await asyncio.sleep(0.01)  # no event for "heard a heartbeat": a bounded poll
        overview = await a.json("/overview")
        assert overview["nodes"] == [
            {**overview["nodes"][0], "node_id": "node-a", "ok": True},
            {"node_id": "rogue", "ok": False, "error": "a malformed answer"}]
        channels = await a.json("/channels")
        assert channels["channels"] == []
        assert channels["nodes"][1] == {"node_id": "rogue", "ok": False,
                                        "error": "a malformed answer"}
    finally:
        await rogue.close()
