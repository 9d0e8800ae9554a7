"""SSE behind a balancer without session affinity: two cluster nodes (real uvicorn servers
over an in-process bus); the stream is open on A, its POSTs and DELETE reach B, which relays
them to A."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket import LocalBus, LocalPubSub, Options
from pondsocket.asgi import PondASGIApp
from tests.asgi.chat_app import build_chat
from tests.asgi.test_asgi_sse import join_frame, message, post

pytestmark = pytest.mark.timeout(30)


async def two_nodes(start_server):
    bus = LocalBus()
    apps = [PondASGIApp(build_chat(Options(node_id=name, heartbeat_interval=0.2),
                                   LocalPubSub(bus=bus)))
            for name in ("node-a", "node-b")]
    servers = [await start_server(app) for app in apps]
    a, b = (app.pond.cluster for app in apps)
    async with asyncio.timeout(5):
        while "node-a" not in b.nodes or "node-b" not in a.nodes:
            await asyncio.sleep(0.02)  # no event for "heard a heartbeat": a bounded poll
    return apps, servers


async def test_posts_to_another_node_are_relayed(start_server, sse_open, http_client):
    apps, (server_a, server_b) = await two_nodes(start_server)
    stream = await sse_open(server_a, "/api/socket?name=sam")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")

    response = await post(http_client, server_b, "/api/socket", join_frame("/room/1", "j1"),
                          stream.token)
    assert (response.status_code, response.text) == (204, "")
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "j1")
    await stream.expect("PRESENCE", "JOIN", "/room/1")

    # In order, as the client sends them one after the other.
    for n in range(5):
        response = await post(http_client, server_b if n % 2 else server_a, "/api/socket",
                              message("/room/1", "shout", {"n": n}, f"m{n}"), stream.token)
        assert response.status_code == 204
    for n in range(5):
        frame = await stream.expect("BROADCAST", "shout", "/room/1")
        assert frame["payload"] == {"n": n}

    # The relayed frame is checked on the node that holds the stream, like a local one.
    response = await post(http_client, server_b, "/api/socket", b"{not json", stream.token)
    assert response.status_code == 204
    error = await stream.expect("ERROR", "INVALID_MESSAGE")
    assert error["payload"]["code"] == 400

    response = await http_client.delete(server_b.http_url("/api/socket"),
                                        headers={"x-connection-id": stream.token})
    assert response.status_code == 204
    await stream.ended_cleanly()
    assert not apps[0].pond.endpoints[0].connections


async def test_unknown_token_is_404_after_asking_the_cluster(start_server, http_client):
    apps, (_, server_b) = await two_nodes(start_server)
    apps[1].sse_relay.timeout = 0.3
    response = await post(http_client, server_b, "/api/socket", join_frame("/room/1", "j"),
                          "no-such-token")
    assert (response.status_code, response.text) == (404, "connection not found")
    # Too large is refused before anything is relayed.
    limit = apps[1].pond.options.max_message_size
    response = await post(http_client, server_b, "/api/socket", b"x" * (limit + 1), "t")
    assert response.status_code == 413
