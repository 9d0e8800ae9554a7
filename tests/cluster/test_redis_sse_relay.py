"""SSE behind a balancer without session affinity, over a real redis-server: two uvicorn
node processes serving tests/cluster/app.py; the stream is open on node1, its POSTs and
DELETE reach node2, which relays them to node1 (docs/asgi.md, "SSE in a cluster").

tests/asgi/test_asgi_sse_cluster.py checks the same relay over the in-process bus.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.asgi.test_asgi_sse import join_frame, message
from tests.cluster.frames import is_message, is_presence
from tests.cluster.procs import START_TIMEOUT, WAIT, NodeProcess, RedisSpy
from tests.sseclient import SSEStream

pytestmark = pytest.mark.timeout(60)

PATH = "/api/socket"
ROOM = "/chat/lobby"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        yield client


def url(node: NodeProcess, path: str = PATH) -> str:
    return f"http://127.0.0.1:{node.port}{path}"


async def post(http: httpx.AsyncClient, node: NodeProcess, body: object,
               token: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(url(node), content=content,
                           headers={"content-type": "application/json",
                                    "x-connection-id": token})


async def until_broadcasts(stream: SSEStream, count: int) -> list[dict[str, Any]]:
    """The stream's frames up to its ``count``-th BROADCAST (PRESENCE frames may come in
    between: the order of sam's and bob's presence JOIN depends on the state exchange)."""
    frames: list[dict[str, Any]] = []
    while sum(f["action"] == "BROADCAST" for f in frames) < count:
        frame = await stream.frame()
        assert frame["action"] in ("BROADCAST", "PRESENCE"), frame
        frames.append(frame)
    return frames


async def two_nodes(spawn_nodes: Any, spy: RedisSpy, **env: Any) -> list[NodeProcess]:
    """node1, then node2; returns once node1 has answered node2's first heartbeat (node2
    knows node1 from then on: a node relays only when it knows other nodes)."""
    (n1,) = await spawn_nodes(1, **env)
    started = False

    def answer_to_node2(m: dict[str, Any]) -> bool:
        nonlocal started
        if m["sourceNodeId"] == "node2" and m.get("starting"):
            started = True
        return started and (m["sourceNodeId"], m["type"]) == (n1.name, "NODE_HEARTBEAT")

    answered = asyncio.ensure_future(spy.wait_for(
        answer_to_node2, timeout=START_TIMEOUT, what="node1's answer to node2's start"))
    (n2,) = await spawn_nodes(1, **env)
    await answered
    return [n1, n2]


async def test_posts_and_delete_to_the_other_node_are_relayed(redis_spy, spawn_nodes,
                                                               ws_client, http):
    n1, n2 = await two_nodes(spawn_nodes, redis_spy, cluster_secret="s3cret")  # signed
    bob = await ws_client(n2, "bob")  # a WebSocket member on the relaying node
    await bob.join(ROOM, "bob")
    async with http.stream("GET", url(n1, f"{PATH}?name=sam"),
                           headers={"accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        stream = SSEStream(response)
        await stream.expect("CONNECT", "CONNECTION", "GATEWAY")

        answer = await post(http, n2, join_frame(ROOM, "j1", {"name": "sam"}), stream.token)
        assert (answer.status_code, answer.text) == (204, "")
        await stream.expect("SYSTEM", "ACKNOWLEDGE", ROOM, "j1")
        await bob.wait_for(is_presence("JOIN", "sam"))

        # In the order sent, whichever node each POST reaches.
        for n in range(6):
            answer = await post(http, n2 if n % 2 else n1,
                                message(ROOM, "message", {"n": n}, f"m{n}"), stream.token)
            assert answer.status_code == 204
        frames = await until_broadcasts(stream, 6)
        assert [f["payload"] for f in frames if f["action"] == "BROADCAST"] == [
            {"n": n} for n in range(6)]
        # sam's stream saw itself and bob join (node1 learnt of bob from node2).
        presence = [f for f in frames if f["action"] == "PRESENCE"]
        assert {f["payload"]["changed"]["name"] for f in presence} == {"sam", "bob"}
        assert sorted(p["name"] for p in presence[-1]["payload"]["presence"]) == ["bob", "sam"]
        for n in range(6):  # and they crossed to the other node's member
            await bob.wait_for(is_message(n=n))

        # The relayed body is checked on the node that holds the stream, like a local one.
        answer = await post(http, n2, b"{not json", stream.token)
        assert answer.status_code == 204
        error = await stream.expect("ERROR", "INVALID_MESSAGE")
        assert error["payload"]["code"] == 400

        answer = await http.delete(url(n2), headers={"x-connection-id": stream.token})
        assert answer.status_code == 204
        await stream.ended_cleanly()
    await bob.wait_for(is_presence("LEAVE", "sam"))


async def test_a_node_that_just_started_relays_at_once(redis_spy, spawn_nodes, http):
    """With 30 s heartbeats node2 would not hear from node1 for up to 30 s after it started
    (node1's first heartbeat went out before node2 listened): node1 answers node2's first
    heartbeat, so node2 knows it at once and relays to it."""
    n1, n2 = await two_nodes(spawn_nodes, redis_spy, heartbeat_interval=30,
                             heartbeat_timeout=90)
    async with http.stream("GET", url(n1), headers={"accept": "text/event-stream"}) as response:
        stream = SSEStream(response)
        await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
        answer = await post(http, n2, join_frame(ROOM, "j"), stream.token)
        assert (answer.status_code, answer.text) == (204, "")
        await stream.expect("SYSTEM", "ACKNOWLEDGE", ROOM, "j")


async def test_a_token_no_node_holds_is_404(redis_spy, spawn_nodes, http):
    _, n2 = await two_nodes(spawn_nodes, redis_spy)
    answer = await post(http, n2, join_frame(ROOM, "j"), "no-such-token")
    assert (answer.status_code, answer.text) == (404, "connection not found")


async def test_a_relay_signed_with_another_secret_is_refused(spawn_nodes, http):
    """The relay messages are signed with ``cluster_secret`` (the test above relays signed
    ones): node1 and node2, with different secrets, drop each other's messages, so node2
    knows no node that could hold the stream and answers 404; the stream is untouched."""
    (n1,) = await spawn_nodes(1, cluster_secret="one secret")
    (n2,) = await spawn_nodes(1, cluster_secret="another secret")
    async with http.stream("GET", url(n1), headers={"accept": "text/event-stream"}) as response:
        stream = SSEStream(response)
        await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
        answer = await post(http, n2, join_frame(ROOM, "j"), stream.token)
        assert (answer.status_code, answer.text) == (404, "connection not found")
        answer = await post(http, n1, join_frame(ROOM, "j"), stream.token)  # locally: fine
        assert answer.status_code == 204
        await stream.expect("SYSTEM", "ACKNOWLEDGE", ROOM, "j")
