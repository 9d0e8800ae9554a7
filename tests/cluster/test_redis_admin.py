"""The admin API over a real Redis cluster of node processes: one node's API shows every
node's members, connections and events, acts on users connected elsewhere, and reports a
frozen node instead of waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.admin.conftest import AdminEvents
from tests.cluster.procs import NodeProcess

pytestmark = pytest.mark.timeout(60)

ROOM = "/chat/lobby"
TOKEN = "cluster-admin"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def admin_url(node: NodeProcess, route: str) -> str:
    return f"http://127.0.0.1:{node.port}/_pond/admin{route}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10, headers=AUTH) as client:
        yield client


async def get(http: httpx.AsyncClient, node: NodeProcess, route: str) -> Any:
    response = await http.get(admin_url(node, route))
    assert response.status_code == 200, response.text
    return response.json()


async def cluster_of(http: httpx.AsyncClient, node: NodeProcess, size: int) -> dict[str, Any]:
    """``node``'s overview once it hears from ``size - 1`` peers that all answer (bounded:
    the first heartbeats take up to an interval)."""
    async with asyncio.timeout(10):
        while True:
            overview = await get(http, node, "/overview")
            if len(overview["nodes"]) == size and all(n["ok"] for n in overview["nodes"]):
                return overview
            await asyncio.sleep(0.05)


async def test_one_nodes_admin_api_covers_the_cluster(spawn_nodes: Any, ws_client: Any,
                                                      http: httpx.AsyncClient) -> None:
    node1, node2 = await spawn_nodes(2, heartbeat_interval=0.3, admin_token=TOKEN)
    ada = await ws_client(node1, "ada")
    bob = await ws_client(node2, "bob")
    await ada.join(ROOM, "ada")
    await bob.join(ROOM, "bob")
    for client in (ada, bob):
        await client.wait_presence({"ada", "bob"})

    overview = await cluster_of(http, node1, 2)
    assert overview["connection_count"] == 2 and overview["channel_count"] == 1
    assert [n["node_id"] for n in overview["nodes"]] == ["node1", "node2"]
    detail = await get(http, node1, "/channels/%2Fchat%2Flobby")
    nodes = {m["presence"]["name"]: m["node"] for m in detail["members"]}
    assert nodes == {"ada": "local", "bob": "node2"}

    # node2's activity reaches node1's event stream.
    async with http.stream("GET", admin_url(node1, f"/events?channel={ROOM}"),
                           headers={"accept": "text/event-stream"}) as response:
        events = AdminEvents(response)
        await events.subscribed()
        await events.expect("subscribed", node="node2")
        await bob.send(ROOM, "message", {"text": "hello from node2"})
        event = await events.expect("broadcast", node="node2", event="message")
        assert event["recipients"] == 1 and event["size"] > 0

    # An eviction asked of node1 reaches bob on node2.
    response = await http.post(admin_url(node1, "/channels/%2Fchat%2Flobby/evict"),
                               json={"user_id": bob.id, "reason": "admin test"})
    assert response.status_code == 200, response.text
    assert response.json()["node_ids"] == ["node2"]
    await bob.wait_for(lambda f: f["event"] == "EVICTED"
                       and f["payload"] == {"reason": "admin test"}, what="the eviction")
    await ada.wait_presence({"ada"})


async def test_a_frozen_node_is_reported_not_waited_for(spawn_nodes: Any, ws_client: Any,
                                                        http: httpx.AsyncClient) -> None:
    node1, node2 = await spawn_nodes(2, heartbeat_interval=0.3, admin_token=TOKEN)
    await (await ws_client(node2, "bob")).join(ROOM, "bob")
    await cluster_of(http, node1, 2)
    node2.pause()  # SIGSTOP: its heartbeats stop, but it is not yet declared dead (5 s)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        overview = await get(http, node1, "/overview")
        elapsed = loop.time() - started
        assert [(n["node_id"], n["ok"]) for n in overview["nodes"]] == [
            ("node1", True), ("node2", False)]
        assert overview["nodes"][1]["error"] == "no answer within 1 s"
        assert overview["connection_count"] == 0  # node1's own; node2's are unknown
        assert elapsed < 4, elapsed  # the default cluster_timeout is 1 s, not 5 s of silence
        connections = await get(http, node1, "/connections")
        assert connections["connections"] == []
        assert connections["nodes"][1] == {"node_id": "node2", "ok": False,
                                           "error": "no answer within 1 s"}
    finally:
        node2.resume()
    overview = await cluster_of(http, node1, 2)
    assert overview["connection_count"] == 1


async def test_a_stopped_node_leaves_the_answers_at_once(spawn_nodes: Any,
                                                         http: httpx.AsyncClient) -> None:
    """SIGTERM: the node says goodbye as it closes, so node1 stops asking it long before the
    heartbeat timeout (30 s here) would have declared it dead."""
    node1, node2 = await spawn_nodes(2, heartbeat_interval=0.3, heartbeat_timeout=30,
                                     admin_token=TOKEN)
    await cluster_of(http, node1, 2)
    await asyncio.to_thread(node2.stop)
    overview = await cluster_of(http, node1, 1)
    assert [n["node_id"] for n in overview["nodes"]] == ["node1"]
    assert overview["cluster_nodes"] == []


async def pages(http: httpx.AsyncClient, node: NodeProcess, limit: int) -> list[dict[str, Any]]:
    """Every page of ROOM's members asked of ``node``, ``limit`` at a time."""
    out: list[dict[str, Any]] = []
    while True:
        page = await get(http, node, f"/channels/%2Fchat%2Flobby?offset={len(out)}&limit={limit}")
        assert page["offset"] == len(out) and page["limit"] == limit
        out += page["members"]
        if len(page["members"]) < limit:
            return out


async def test_member_pages_ship_only_the_page(spawn_nodes: Any, ws_client: Any,
                                               http: httpx.AsyncClient, redis_spy: Any) -> None:
    """A page of a channel spread over nodes: each node sends only its part of it, the
    members come in a stable order (the asked node's first, then by node id; join order
    within a node), each once over all pages; a frozen node's part comes from the asked
    node's replica."""
    node1, node2, node3 = await spawn_nodes(3, heartbeat_interval=0.3, admin_token=TOKEN)
    placement = [(node1, f"a{i}") for i in range(12)] + [(node2, f"b{i}") for i in range(18)]
    clients = []
    for node, name in placement:
        client = await ws_client(node, name)
        await client.join(ROOM, name)
        clients.append(client)
    everyone = {name for _, name in placement}
    for client in (clients[0], clients[-1]):  # both nodes' replicas are complete
        await client.wait_presence(everyone)
    await cluster_of(http, node3, 3)
    in_join_order = [c.id for c in clients]

    # node2's reply to node1's query for the page 10-17 holds its part only: 6 members.
    replies: list[dict[str, Any]] = []

    def node2_reply(message: dict[str, Any]) -> bool:
        if (message["type"], message["sourceNodeId"]) == ("ADMIN_REPLY", "node2"):
            replies.append(message)
            return True
        return False

    waiting = asyncio.ensure_future(redis_spy.wait_for(node2_reply, what="node2's reply"))
    await asyncio.sleep(0)  # one step: the spy's waiter is registered before the query
    page = await get(http, node1, "/channels/%2Fchat%2Flobby?offset=10&limit=8")
    await waiting
    assert [m["user_id"] for m in replies[0]["document"]["members"]] == in_join_order[12:18]
    assert [m["user_id"] for m in page["members"]] == in_join_order[10:18]
    assert page["members_total"] == 30 and page["member_count"] == 12
    assert [m["node"] for m in page["members"]] == ["local"] * 2 + ["node2"] * 6
    assert "members_from" not in page

    for asked in (node1, node3):  # node3 has no member: it learns the counts first
        members = await pages(http, asked, limit=7)
        assert [m["user_id"] for m in members] == in_join_order, asked.name
    whole = await get(http, node1, "/channels/%2Fchat%2Flobby")  # no limit: every member
    assert [m["user_id"] for m in whole["members"]] == in_join_order

    node2.pause()  # SIGSTOP: no answer, not yet declared dead (5 s)
    try:
        page = await get(http, node1, "/channels/%2Fchat%2Flobby?offset=10&limit=8")
    finally:
        node2.resume()
    assert [m["user_id"] for m in page["members"]] == in_join_order[10:18]
    assert [m["joined_at"] is None for m in page["members"]] == [False] * 2 + [True] * 6
    assert page["nodes"][1] == {"node_id": "node2", "ok": False,
                                "error": "no answer within 1 s"}
