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
