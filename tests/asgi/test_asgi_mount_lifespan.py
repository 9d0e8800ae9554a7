"""Mounting under Starlette, plain uvicorn's shutdown, and the health check (pondctl's
shutdown: test_asgi_shutdown.py)."""

from __future__ import annotations

import json

import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pondsocket import LocalPubSub
from pondsocket.asgi import PondASGIApp
from tests.asgi.chat_app import build_chat

pytestmark = pytest.mark.timeout(30)


def join_frame(channel: str, request_id: str) -> str:
    return json.dumps({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                       "channelName": channel, "requestId": request_id, "payload": {}})


async def test_mounted_under_starlette(start_server, ws_connect, sse_open, http_client,
                                       chat_app):
    async def health(request):
        return PlainTextResponse("ok")

    pond_app = chat_app()
    app = Starlette(routes=[Route("/health", health), Mount("/rt", app=pond_app)])
    server = await start_server(app)

    response = await http_client.get(server.http_url("/health"))
    assert (response.status_code, response.text) == (200, "ok")

    # WebSocket at the mounted path
    ada = await ws_connect(server, "/rt/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")

    # SSE at the mounted path, POST to the mounted path
    stream = await sse_open(server, "/rt/api/socket?name=sam")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    response = await http_client.post(server.http_url("/rt/api/socket"),
                                      content=join_frame("/room/1", "j"),
                                      headers={"x-connection-id": stream.token})
    assert response.status_code == 204
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "j")
    await stream.expect("PRESENCE", "JOIN", "/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await ada.send_msg("BROADCAST", "/room/1", "shout", {"via": "mount"})
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"via": "mount"})
    await stream.expect("BROADCAST", "shout", "/room/1", payload={"via": "mount"})

    # declines keep their real status through the mount
    with pytest.raises(InvalidStatus) as info:
        await connect(server.ws_url("/rt/api/socket?token=bad"), open_timeout=5)
    assert (info.value.response.status_code, info.value.response.body) == (401, b"Invalid token")
    # the pond's paths are relative to the mount: outside it Starlette answers
    response = await http_client.post(server.http_url("/api/socket"),
                                      content=join_frame("/room/1", "x"),
                                      headers={"x-connection-id": stream.token})
    assert response.status_code == 404
    assert pond_app.pond.endpoints[0].connections  # nothing was disturbed
    response = await http_client.get(server.http_url("/health"))
    assert response.status_code == 200


async def test_plain_uvicorn_shutdown(start_server, ws_connect, chat_app):
    """Under a bare ``uvicorn.Server`` the ASGI lifespan shutdown comes only after uvicorn
    has closed every WebSocket itself (1012, Service Restart); the pond is closed then."""
    app = chat_app()
    closed = []
    close = app.pond.close

    async def spy() -> None:
        closed.append(len(app.pond.endpoints[0].connections))
        await close()

    app.pond.close = spy
    server = await start_server(app)
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")

    await server.stop()
    code, _ = await ada.closed()
    assert code == 1012
    assert closed == [0]  # lifespan shutdown ran, after the connection was gone


async def test_health_check_ok_while_serving_then_503(start_server, ws_connect, http_client):
    app = PondASGIApp(build_chat(), health_path="/healthz")
    server = await start_server(app)
    await ws_connect(server, "/api/socket?name=ada")
    response = await http_client.get(server.http_url("/healthz"))  # no token needed
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "node_id": app.pond.node_id,
                               "connections": 1, "cluster": None}
    assert (await http_client.head(server.http_url("/healthz"))).status_code == 200
    assert (await http_client.post(server.http_url("/healthz"))).status_code == 405

    await app.pond.close()  # what a shutdown starts with: the balancer must stop routing here
    response = await http_client.get(server.http_url("/healthz"))
    assert response.status_code == 503
    assert response.json() == {"status": "stopping", "node_id": app.pond.node_id}


async def test_no_health_path_unless_configured(start_server, http_client, chat_app):
    server = await start_server(chat_app())
    assert (await http_client.get(server.http_url("/healthz"))).status_code == 404
    with pytest.raises(ValueError, match="must start with /"):
        PondASGIApp(build_chat(), health_path="healthz")


async def test_health_check_of_a_cluster_node(start_server, http_client):
    app = PondASGIApp(build_chat(pubsub=LocalPubSub()), health_path="/healthz")
    server = await start_server(app)
    response = await http_client.get(server.http_url("/healthz"))
    assert response.json()["cluster"] == {"connected": True, "nodes": 1}
