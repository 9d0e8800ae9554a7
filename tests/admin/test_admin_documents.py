"""The JSON documents and the metrics follow clients as they join, track presence and leave."""

from __future__ import annotations

from typing import Any

from pondsocket import AdminOptions

from .conftest import TOKEN

ROOM = "/room/1"
ENCODED = "%2Froom%2F1"


async def join_tracked(client: Any, channel: str = ROOM) -> None:
    """Join and wait for the presence frame of our own tracking."""
    await client.join(channel)
    await client.expect("PRESENCE", "JOIN", channel)


async def test_documents_follow_joins_presence_and_leaves(admin_env: Any) -> None:
    admin = await admin_env.start()
    alice = await admin_env.ws(admin, "alice")
    bob = await admin_env.ws(admin, "bob")
    await join_tracked(alice)
    await bob.join(ROOM)
    await bob.expect("PRESENCE", "JOIN", ROOM)
    await alice.expect("PRESENCE", "JOIN", ROOM)

    overview = await admin.json("/overview")
    node_id = admin.app.pond.node_id
    assert overview["scope"] == "local"  # a lone node: the cluster is itself
    assert overview["node_id"] == node_id
    assert [n["node_id"] for n in overview["nodes"]] == [node_id]
    assert overview["nodes"][0]["ok"] is True
    assert overview["member_count"] == 2
    assert overview["endpoint_count"] == 2
    assert overview["connection_count"] == 2
    assert overview["channel_count"] == 1
    assert overview["cluster_nodes"] == []
    assert overview["counters"]["connections_opened"] == 2
    assert overview["counters"]["connections_closed"] == 0

    endpoints = {e["path"]: e for e in (await admin.json("/endpoints"))["endpoints"]}
    assert endpoints["/api/socket"] == {"path": "/api/socket", "connection_count": 2,
                                        "lobbies": ["/room/:id"]}
    assert endpoints["/other"]["connection_count"] == 0

    [summary] = (await admin.json("/channels"))["channels"]
    assert summary["name"] == ROOM and summary["endpoint"] == "/api/socket"
    assert summary["pattern"] == "/room/:id"
    assert (summary["member_count"], summary["remote_member_count"]) == (2, 0)
    assert summary["node_ids"] == [node_id]
    assert set(summary["rates"]) == {"messages_received", "messages_broadcast",
                                     "frames_delivered"}

    detail = await admin.json(f"/channels/{ENCODED}")
    members = {m["user_id"]: m for m in detail["members"]}
    assert set(members) == {alice.user_id, bob.user_id}
    assert members[alice.user_id]["presence"] == {"name": "alice"}
    assert members[alice.user_id]["node"] == "local"
    assert isinstance(members[alice.user_id]["joined_at"], float)
    assert all("assigns" not in m for m in detail["members"])  # hidden by default

    # Presence change, then a broadcast counted on the channel.
    await bob.send_msg("BROADCAST", ROOM, "status", {"status": "away"})
    for client in (alice, bob):
        await client.expect("PRESENCE", "UPDATE", ROOM)
    await alice.send_msg("BROADCAST", ROOM, "shout", {"text": "hi"})
    for client in (alice, bob):
        await client.expect("BROADCAST", "shout", ROOM, payload={"text": "hi"})
    detail = await admin.json(f"/channels/{ENCODED}")
    members = {m["user_id"]: m for m in detail["members"]}
    assert members[bob.user_id]["presence"] == {"name": "bob", "status": "away"}
    assert detail["messages_received"] == 2 and detail["messages_broadcast"] == 1
    assert detail["frames_delivered"] >= 2

    connections = {c["user_id"]: c for c in (await admin.json("/connections"))["connections"]}
    assert connections[alice.user_id]["transport"] == "websocket"
    assert connections[alice.user_id]["channels"] == [ROOM]
    assert connections[alice.user_id]["endpoint"] == "/api/socket"
    assert connections[alice.user_id]["frames_sent"] >= 1
    assert connections[alice.user_id]["dropped_frames"] == 0
    assert connections[alice.user_id]["age_seconds"] >= 0
    # The busiest first, cut to a limit; the total still counts everyone.
    busiest = await admin.json("/connections?sort=frames_sent&limit=1")
    assert busiest["total"] == 2 and len(busiest["connections"]) == 1
    assert busiest["connections"][0]["frames_sent"] == max(
        c["frames_sent"] for c in connections.values())
    oldest = await admin.json("/connections?limit=5")
    assert [c["user_id"] for c in oldest["connections"]] == [alice.user_id, bob.user_id]
    for bad in ("sort=size", "limit=0", "limit=-1", "limit=ten"):
        response = await admin.get(f"/connections?{bad}")
        assert response.status_code == 400, bad
        assert response.json()["error"].split()[0] in ("sort", "limit")

    # Bob leaves: one member left; then alice leaves: the channel is gone.
    rid = await bob.send_msg("LEAVE_CHANNEL", ROOM)
    await bob.expect("SYSTEM", "EXIT_ACKNOWLEDGE", ROOM, rid)
    detail = await admin.json(f"/channels/{ENCODED}")
    assert [m["user_id"] for m in detail["members"]] == [alice.user_id]
    await alice.expect("PRESENCE", "LEAVE", ROOM)
    connections = {c["user_id"]: c for c in (await admin.json("/connections"))["connections"]}
    assert connections[bob.user_id]["channels"] == []
    rid = await alice.send_msg("LEAVE_CHANNEL", ROOM)
    await alice.expect("SYSTEM", "EXIT_ACKNOWLEDGE", ROOM, rid)
    assert (await admin.json("/channels"))["channels"] == []
    response = await admin.get(f"/channels/{ENCODED}")
    assert response.status_code == 404
    assert response.json() == {"error": f"no channel {ROOM}", "status": 404}
    # Counters of closed channels are kept.
    counters = (await admin.json("/overview"))["counters"]
    assert counters["messages_received"] == 2 and counters["messages_broadcast"] == 1


async def test_channel_name_unencoded_and_endpoint_filter(admin_env: Any) -> None:
    admin = await admin_env.start()
    alice = await admin_env.ws(admin, "alice")
    carol = await admin_env.ws(admin, "carol", "/other")
    await join_tracked(alice)
    await join_tracked(carol)
    assert (await admin.json(f"/channels{ROOM}"))["endpoint"] == "/api/socket"
    doc = await admin.json(f"/channels/{ENCODED}?endpoint=/other")
    assert doc["endpoint"] == "/other"
    assert [m["user_id"] for m in doc["members"]] == [carol.user_id]
    assert len((await admin.json("/channels"))["channels"]) == 2


async def test_assigns_only_when_exposed(admin_env: Any) -> None:
    admin = await admin_env.start(AdminOptions(token=TOKEN, expose_assigns=True))
    alice = await admin_env.ws(admin, "alice")
    await join_tracked(alice)
    [member] = (await admin.json(f"/channels/{ENCODED}"))["members"]
    assert member["assigns"] == {"name": "alice"}


def parse_metrics(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    types: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            name, value = line.split(" ")
            values[name] = float(value)
    assert set(types) == set(values)
    assert all(t in ("gauge", "counter") for t in types.values())
    assert all(n.endswith("_total") == (types[n] == "counter") for n in types)
    return values


async def test_metrics_text_matches_the_live_objects(admin_env: Any) -> None:
    admin = await admin_env.start()
    alice = await admin_env.ws(admin, "alice")
    bob = await admin_env.ws(admin, "bob")
    await join_tracked(alice)
    await alice.send_msg("BROADCAST", ROOM, "shout", {"n": 1})
    await alice.expect("BROADCAST", "shout", ROOM)
    await bob.send_msg("BROADCAST", "/room/2", "shout", {})  # not a member: refused
    await bob.expect("ERROR", "UNAUTHORIZED_BROADCAST")

    response = await admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = parse_metrics(response.text)
    overview = await admin.json("/overview")
    counters = overview["counters"]
    assert metrics["pondsocket_connections"] == overview["connection_count"] == 2
    assert metrics["pondsocket_channels"] == overview["channel_count"] == 1
    assert metrics["pondsocket_channel_members"] == 1
    assert metrics["pondsocket_endpoints"] == 2
    assert metrics["pondsocket_connections_opened_total"] == 2
    assert metrics["pondsocket_messages_received_total"] == counters["messages_received"] == 1
    assert metrics["pondsocket_messages_broadcast_total"] == 1
    assert metrics["pondsocket_frames_delivered_total"] == counters["frames_delivered"]
    assert metrics["pondsocket_frames_delivered_total"] == 2  # presence JOIN + shout
    assert metrics["pondsocket_dropped_frames"] == 0
    assert metrics["pondsocket_cluster_nodes"] == 0
    # HEAD-less plain GET without a token is refused like every other route.
    assert (await admin.get("/metrics", headers={})).status_code == 401


async def test_write_actions_refused_by_default(admin_env: Any) -> None:
    admin = await admin_env.start()
    alice = await admin_env.ws(admin, "alice")
    await join_tracked(alice)
    response = await admin.post(f"/channels/{ENCODED}/evict", {"user_id": alice.user_id})
    assert response.status_code == 403
    assert (await admin.post(f"/channels/{ENCODED}/close")).status_code == 403
    assert (await admin.post(f"/channels/{ENCODED}/close", headers={})).status_code == 401
    [member] = (await admin.json(f"/channels/{ENCODED}"))["members"]
    assert member["user_id"] == alice.user_id


async def test_evict_and_close_when_writes_are_allowed(admin_env: Any) -> None:
    admin = await admin_env.start(AdminOptions(token=TOKEN, allow_writes=True))
    alice = await admin_env.ws(admin, "alice")
    bob = await admin_env.ws(admin, "bob")
    await join_tracked(alice)
    await join_tracked(bob)
    await alice.expect("PRESENCE", "JOIN", ROOM)  # bob's

    response = await admin.post(f"/channels/{ENCODED}/evict",
                                {"user_id": bob.user_id, "reason": "spam"})
    assert response.status_code == 200
    node = {"node_id": admin.app.pond.node_id, "ok": True}
    assert response.json() == {"channel": ROOM, "user_id": bob.user_id, "evicted": True,
                               "node_ids": [node["node_id"]], "nodes": [node]}
    await bob.expect("SYSTEM", "EVICTED", ROOM, payload={"reason": "spam"})
    await alice.expect("PRESENCE", "LEAVE", ROOM)
    assert [m["user_id"] for m in (await admin.json(f"/channels/{ENCODED}"))["members"]] == [
        alice.user_id]

    # Errors: not a member, missing user id, bad JSON, unknown channel.
    response = await admin.post(f"/channels/{ENCODED}/evict", {"user_id": bob.user_id})
    assert response.status_code == 404
    assert (await admin.post(f"/channels/{ENCODED}/evict", {})).status_code == 400
    response = await admin.http.post(admin.url(f"/channels/{ENCODED}/evict"), content=b"{",
                                     headers={"authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 400
    assert (await admin.post("/channels/%2Fnope/close")).status_code == 404

    response = await admin.post(f"/channels/{ENCODED}/close", {"reason": "maintenance"})
    assert response.json() == {"channel": ROOM, "closed": True,
                               "node_ids": [node["node_id"]], "nodes": [node]}
    await alice.expect("SYSTEM", "EVICTED", ROOM, payload={"reason": "maintenance"})
    assert (await admin.json("/channels"))["channels"] == []
    # The connections stay open: alice can join again.
    await join_tracked(alice)
