"""What clients see when the server shuts down (docs/asgi.md, "Lifespan and shutdown"):
``pond.close()`` closes every connection with 1001 ``server shutting down``, members leave
with reason ``connection_closed``, and no ``EVICTED`` frame is sent - a restart must not look
like an eviction, so clients reconnect and rejoin.

Every frame a client still receives is read up to the close: a test that stops reading at the
close code would miss an ``EVICTED`` sent just before it.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(30)

LEFT_ON_CLOSE = "connection_closed"


def assert_no_eviction(frames: list[dict], who: str) -> None:
    """Only other members' presence LEAVE may come before the close."""
    assert all((f["action"], f["event"]) == ("PRESENCE", "LEAVE") for f in frames), (who, frames)


async def test_websocket_clients_get_1001_and_leave_without_eviction(ws_server, ws_connect,
                                                                     chat_app):
    leaves: list[tuple[str, str, str]] = []
    app = chat_app(leaves=leaves)
    server = await ws_server(app)
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    bob = await ws_connect(server, "/api/socket?name=bob")
    await bob.join("/room/1")
    await bob.expect("PRESENCE", "JOIN", "/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await bob.join("/room/2")
    await bob.expect("PRESENCE", "JOIN", "/room/2")
    idle = await ws_connect(server, "/api/socket?name=idle")  # in no channel

    await server.stop()  # pondctl's uvicorn, or the direct server cancelled: pond.close()

    for name, client in (("ada", ada), ("bob", bob), ("idle", idle)):
        frames, close = await client.rest()
        assert close == (1001, "server shutting down"), name
        assert_no_eviction(frames, name)
    assert sorted(leaves) == [("ada", "/room/1", LEFT_ON_CLOSE),
                              ("bob", "/room/1", LEFT_ON_CLOSE),
                              ("bob", "/room/2", LEFT_ON_CLOSE)]
    assert not app.pond.endpoints[0].connections


async def test_sse_streams_end_and_leave_without_eviction(start_server, ws_connect, sse_open,
                                                          http_client, chat_app):
    """pondctl's server with no graceful-shutdown bound: a stream left open would hang the
    stop (and fail the test)."""
    leaves: list[tuple[str, str, str]] = []
    app = chat_app(leaves=leaves)
    server = await start_server(app, pond_server=True, timeout_graceful_shutdown=None)
    stream = await sse_open(server, "/api/socket?name=sam")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    join = {"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL", "channelName": "/room/1",
            "requestId": "j", "payload": {}}
    response = await http_client.post(server.http_url("/api/socket"), content=json.dumps(join),
                                      headers={"x-connection-id": stream.token})
    assert response.status_code == 204
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "j")
    await stream.expect("PRESENCE", "JOIN", "/room/1")
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await stream.expect("PRESENCE", "JOIN", "/room/1")

    await server.stop()

    assert_no_eviction(await stream.rest(), "sam")
    assert stream.ended
    frames, close = await ada.rest()
    assert close == (1001, "server shutting down")
    assert_no_eviction(frames, "ada")
    assert sorted(leaves) == [("ada", "/room/1", LEFT_ON_CLOSE),
                              ("sam", "/room/1", LEFT_ON_CLOSE)]
    assert not app.pond.endpoints[0].connections
