"""WebSocket over every server the project offers (``ws_server``: uvicorn as ``pondctl serve``
runs it, and the direct ``websockets`` server): handshake, channels, presence and refusals.
What only uvicorn does (its settings, the ASGI fallback) is tested on uvicorn alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from pondsocket import Options

pytestmark = pytest.mark.timeout(30)


def is_uuid(value: str) -> bool:
    import uuid

    return str(uuid.UUID(value)) == value


async def test_connect_frame_shape(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    client = await ws_connect(server, "/api/socket?name=ada")
    frame = client.connect_frame
    assert frame["action"] == "CONNECT"
    assert frame["event"] == "CONNECTION"
    assert frame["channelName"] == "GATEWAY"
    assert is_uuid(frame["requestId"])
    assert list(frame["payload"]) == ["id", "connectionId"]
    assert frame["payload"]["id"] == frame["payload"]["connectionId"]
    assert is_uuid(frame["payload"]["id"])


async def test_connection_reply_follows_connect(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    client = await ws_connect(server, "/api/socket?token=welcome")
    frame = await client.expect("SYSTEM", "welcome", "GATEWAY", payload={"motd": "hi"})
    assert frame["requestId"] != client.connect_frame["requestId"]


async def test_two_clients_join_broadcast_reply_presence_leave_evict(
        ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    ada = await ws_connect(server, "/api/socket?name=ada")
    bob = await ws_connect(server, "/api/socket?name=bob")
    assert ada.user_id != bob.user_id

    # join: ACK first, then presence
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1",
                     payload={"presence": [{"name": "ada"}], "changed": {"name": "ada"}})
    await bob.join("/room/1")
    both = {"presence": [{"name": "ada"}, {"name": "bob"}], "changed": {"name": "bob"}}
    await bob.expect("PRESENCE", "JOIN", "/room/1", payload=both)
    await ada.expect("PRESENCE", "JOIN", "/room/1", payload=both)

    # broadcast: to every member, same frame, fresh request id
    rid = await ada.send_msg("BROADCAST", "/room/1", "shout", {"text": "hello"})
    got_ada = await ada.expect("BROADCAST", "shout", "/room/1", payload={"text": "hello"})
    got_bob = await bob.expect("BROADCAST", "shout", "/room/1", payload={"text": "hello"})
    assert got_ada == got_bob and got_ada["requestId"] != rid

    # reply: only to the sender, with its request id
    rid = await bob.send_msg("BROADCAST", "/room/1", "ping", {"n": 1}, request_id="ping-1")
    await bob.expect("SYSTEM", "pong", "/room/1", rid, {"echo": {"n": 1}})

    # presence update reaches both
    await bob.send_msg("BROADCAST", "/room/1", "status", {"status": "away"})
    update = {"presence": [{"name": "ada"}, {"name": "bob", "status": "away"}],
              "changed": {"name": "bob", "status": "away"}}
    await bob.expect("PRESENCE", "UPDATE", "/room/1", payload=update)
    await ada.expect("PRESENCE", "UPDATE", "/room/1", payload=update)

    # leave: EXIT_ACKNOWLEDGE to the leaver, presence LEAVE to the others
    rid = await bob.send_msg("LEAVE_CHANNEL", "/room/1", request_id="leave-1")
    await bob.expect("SYSTEM", "EXIT_ACKNOWLEDGE", "/room/1", rid, {})
    await ada.expect("PRESENCE", "LEAVE", "/room/1",
                     payload={"presence": [{"name": "ada"}],
                              "changed": {"name": "bob", "status": "away"}})

    # evict: the target gets EVICTED, the others see it leave; its connection stays usable
    await bob.join("/room/1")
    await bob.expect("PRESENCE", "JOIN", "/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await ada.send_msg("BROADCAST", "/room/1", "evict", {"name": "bob"})
    await bob.expect("SYSTEM", "EVICTED", "/room/1", payload={"reason": "bye"})
    await ada.expect("PRESENCE", "LEAVE", "/room/1",
                     payload={"presence": [{"name": "ada"}], "changed": {"name": "bob"}})
    rid = await bob.send_msg("BROADCAST", "/room/1", "shout", {"x": 1}, request_id="after")
    await bob.expect("ERROR", "UNAUTHORIZED_BROADCAST", "/room/1", rid,
                     {"code": 403, "message": "Not a member of /room/1"})
    await bob.join("/room/2")


async def test_join_refusals_and_errors(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    ada = await ws_connect(server, "/api/socket?name=ada")
    rid = await ada.send_msg("JOIN_CHANNEL", "/room/9", payload={"deny": True},
                             request_id="j-deny")
    await ada.expect("SYSTEM", "UNAUTHORIZED", "/room/9", rid, {"code": 403, "message": "denied"})
    rid = await ada.send_msg("JOIN_CHANNEL", "/nowhere", request_id="j-none")
    await ada.expect("SYSTEM", "UNAUTHORIZED", "/nowhere", rid,
                     {"code": 404, "message": "No channel matches /nowhere"})
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    rid = await ada.send_msg("JOIN_CHANNEL", "/room/1", request_id="j-dup")
    await ada.expect("ERROR", "CHANNEL_ERROR", "/room/1", rid,
                     {"code": 409, "message": "Already joined /room/1"})
    rid = await ada.send_msg("BROADCAST", "/room/1", "nope", request_id="b-unknown")
    await ada.expect("ERROR", "HANDLER_NOT_FOUND", "/room/1", rid,
                     {"code": 404, "message": "No handler for event 'nope' on /room/1"})
    rid = await ada.send_msg("BROADCAST", "/room/1", "fail", request_id="b-fail")
    await ada.expect("ERROR", "INTERNAL_SERVER_ERROR", "/room/1", rid,
                     {"code": 500, "message": "Internal server error"})
    rid = await ada.send_msg("LEAVE_CHANNEL", "/room/5", request_id="l-none")
    await ada.expect("ERROR", "CHANNEL_ERROR", "/room/5", rid,
                     {"code": 404, "message": "Not a member of /room/5"})


async def _refused(server, path: str) -> tuple[int, bytes, str]:
    from websockets.asyncio.client import connect

    with pytest.raises(InvalidStatus) as info:
        await connect(server.ws_url(path), open_timeout=5)
    response = info.value.response
    return response.status_code, response.body, response.headers.get("content-type", "")


async def test_declined_handshake_returns_real_status_and_body(ws_server, chat_app):
    server = await ws_server(chat_app())
    status, body, content_type = await _refused(server, "/api/socket?token=bad")
    assert (status, body) == (401, b"Invalid token")
    assert content_type == "text/plain; charset=utf-8"


async def test_unknown_path_is_404(ws_server, chat_app):
    server = await ws_server(chat_app())
    status, body, _ = await _refused(server, "/nope")
    assert (status, body) == (404, b"PondSocket: no endpoint at this path")


async def test_connection_handler_exception_is_500(ws_server, chat_app):
    server = await ws_server(chat_app())
    status, body, _ = await _refused(server, "/api/socket?token=boom")
    assert (status, body) == (500, b"Internal server error")  # no internal detail leaks


async def test_max_connections_refuses_before_accept(ws_server, ws_connect, chat_app):
    app = chat_app(Options(max_connections=2))
    server = await ws_server(app)
    ada = await ws_connect(server, "/api/socket?name=ada")
    bob = await ws_connect(server, "/api/socket?name=bob")
    status, body, _ = await _refused(server, "/api/socket?name=eve")
    assert (status, body) == (503, b"Too many connections")

    # the two admitted clients keep working
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await bob.join("/room/1")
    await bob.expect("PRESENCE", "JOIN", "/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await bob.send_msg("BROADCAST", "/room/1", "shout", {"n": 1})
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"n": 1})
    await bob.expect("BROADCAST", "shout", "/room/1", payload={"n": 1})

    # the limit counts the other endpoint separately
    await ws_connect(server, "/other")

    # once one leaves (its presence LEAVE proves the server forgot it), a slot is free
    await bob.close()
    await ada.expect("PRESENCE", "LEAVE", "/room/1", payload={
        "presence": [{"name": "ada"}], "changed": {"name": "bob"}})
    eve = await ws_connect(server, "/api/socket?name=eve")
    await eve.join("/room/1")


async def test_endpoint_params_and_query_reach_handler(ws_server, ws_connect):
    from pondsocket import PondSocket
    from pondsocket.asgi import PondASGIApp

    pond = PondSocket()
    seen = []

    async def handler(ctx):
        seen.append((ctx.params, ctx.query, ctx.headers.get("x-test"), ctx.cookies))
        ctx.accept()

    pond.create_endpoint("/t/:tenant", handler)
    server = await ws_server(PondASGIApp(pond))
    await ws_connect(server, "/t/acme?a=1&a=2&b=", additional_headers={
        "x-test": "yes", "cookie": "sid=abc; theme=dark"})
    assert seen == [({"tenant": "acme"}, {"a": "1", "b": ""}, "yes",
                     {"sid": "abc", "theme": "dark"})]


@pytest.mark.filterwarnings("ignore:The `websockets` implementation is deprecated",
                            "ignore::DeprecationWarning")
async def test_legacy_uvicorn_websockets_implementation(start_server, ws_connect, chat_app):
    server = await start_server(chat_app(), ws="websockets")
    status, body, _ = await _refused(server, "/api/socket?token=bad")
    assert (status, body) == (401, b"Invalid token")
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")


@pytest.mark.parametrize(("path", "query", "close"), [
    ("/api/socket", b"token=bad", {"code": 4401, "reason": "Invalid token"}),
    ("/nope", b"", {"code": 4404, "reason": "PondSocket: no endpoint at this path"}),
])
async def test_decline_without_http_response_extension_closes_with_4000_plus_status(
        chat_app, path, query, close):
    """Servers without the ``websocket.http.response`` extension get a close code instead."""
    sent = []
    inbound = [{"type": "websocket.connect"}]

    async def receive():
        return inbound.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": path, "root_path": "", "query_string": query,
             "headers": [], "client": ("127.0.0.1", 1234)}
    await chat_app()(scope, receive, send)
    assert sent == [{"type": "websocket.close", **close}]


async def test_fan_out_to_many_clients_in_order(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    clients = [await ws_connect(server, f"/api/socket?name=c{i}") for i in range(30)]
    for client in clients:
        await client.join("/room/fan")
    sender = clients[0]
    for n in range(20):
        await sender.send_msg("BROADCAST", "/room/fan", "shout", {"n": n}, request_id=f"n{n}")
    for client in clients:
        got = []
        while len(got) < 20:
            frame = await client.recv()
            if frame["action"] == "BROADCAST":
                got.append(frame["payload"]["n"])
            else:
                assert frame["action"] == "PRESENCE"
        assert got == list(range(20))


async def test_uvicorn_root_path_is_stripped(start_server, ws_connect, chat_app):
    """Behind a proxy that strips a prefix (``uvicorn --root-path /prefix``)."""
    server = await start_server(chat_app(), root_path="/prefix")
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")


def racing_endpoint(handshakes: int) -> tuple[Any, list[tuple[bool, asyncio.Future[None]]],
                                             asyncio.Event]:
    """A pond whose ``/ws`` admits 2 connections through a connection handler that holds
    every handshake until the test releases it (``waiting``: is-SSE and its future);
    ``all_inside`` is set once ``handshakes`` are inside the handler."""
    from pondsocket import PondSocket

    pond = PondSocket(options=Options(max_connections=2))
    waiting: list[tuple[bool, asyncio.Future[None]]] = []
    all_inside = asyncio.Event()

    async def slow_auth(ctx):
        future = asyncio.get_running_loop().create_future()
        waiting.append(("event-stream" in ctx.headers.get("accept", ""), future))
        if len(waiting) == handshakes:
            all_inside.set()
        await future
        ctx.accept()

    pond.create_endpoint("/ws", slow_auth)
    return pond, waiting, all_inside


async def open_ws(server):
    """An opened WebSocket (its CONNECT read), or the refusal: (status, body) of an HTTP
    answer, ("closed", code, reason) of a close right after the 101."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    try:
        ws = await connect(server.ws_url("/ws"), open_timeout=5)
    except InvalidStatus as err:
        return err.response.status_code, bytes(err.response.body)
    try:
        frame = await asyncio.wait_for(ws.recv(), 5)
    except ConnectionClosed:
        return "closed", ws.protocol.close_rcvd.code, ws.protocol.close_rcvd.reason
    assert '"CONNECT"' in frame
    return ws


async def test_max_connections_with_concurrent_handshakes(ws_server):
    """Handshakes racing through a slow connection handler: the one that finds the endpoint
    full once the handler has decided is refused, and the two admitted ones are served.
    uvicorn refuses it with 503 before accept; the direct server decides in
    ``process_request`` but registers in its handler, so it accepts and closes it at once
    with 1013 (Try Again Later) ``Too many connections``."""
    pond, waiting, all_inside = racing_endpoint(3)
    server = await ws_server(pond)
    tasks = [asyncio.ensure_future(open_ws(server)) for _ in range(3)]
    await asyncio.wait_for(all_inside.wait(), 5)  # every handshake is inside the handler
    for _is_sse, future in waiting:
        future.set_result(None)
    results = await asyncio.gather(*tasks)
    opened = [r for r in results if not isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, tuple)]
    assert len(opened) == 2
    if server.kind == "uvicorn":
        assert refused == [(503, b"Too many connections")]
    else:
        assert refused == [("closed", 1013, "Too many connections")]
    assert len(pond.endpoints[0].connections) == 2
    for ws in opened:
        await ws.close()


async def test_max_connections_with_concurrent_websocket_and_sse(start_server, http_client):
    """The same race between WebSockets and an SSE stream (ASGI only): the stream that finds
    the endpoint full is refused with 503 before it starts."""
    from pondsocket.asgi import PondASGIApp

    pond, waiting, all_inside = racing_endpoint(3)
    server = await start_server(PondASGIApp(pond))

    async def open_sse():
        async with http_client.stream("GET", server.http_url("/ws"),
                                      headers={"accept": "text/event-stream"}) as response:
            return response.status_code, await response.aread()

    tasks = [asyncio.ensure_future(open_ws(server)) for _ in range(2)]
    tasks.append(asyncio.ensure_future(open_sse()))
    await asyncio.wait_for(all_inside.wait(), 5)
    for _is_sse, future in sorted(waiting, key=lambda item: item[0]):  # WebSockets first
        future.set_result(None)
    *websockets, sse = await asyncio.gather(*tasks)
    assert not any(isinstance(r, tuple) for r in websockets)
    assert sse == (503, b"Too many connections")
    for ws in websockets:
        await ws.close()


async def test_fallback_close_reason_fits_a_close_frame():
    """Without the extension the decline message becomes the close reason: at most 123 bytes
    of UTF-8 (a longer one is not a valid close frame), cut between characters."""
    from pondsocket import PondSocket
    from pondsocket.asgi import PondASGIApp

    pond = PondSocket()

    async def refuse(ctx):
        ctx.decline(403, "Zugriff verweigert für äöü " * 10)

    pond.create_endpoint("/ws", refuse)
    sent = []
    inbound = [{"type": "websocket.connect"}]

    async def receive():
        return inbound.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "root_path": "", "query_string": b"",
             "headers": [], "client": ("127.0.0.1", 1234)}
    await PondASGIApp(pond)(scope, receive, send)
    [close] = sent
    assert close["code"] == 4403
    reason = close["reason"].encode()
    assert len(reason) <= 123
    assert ("Zugriff verweigert für äöü " * 10).encode().startswith(reason)
    assert len(reason) > 115


async def test_no_compression_by_default(ws_server, ws_connect, chat_app):
    """Neither server negotiates permessage-deflate unless asked (the direct server's
    ``compression=None``, pondctl's ``--ws-per-message-deflate`` off), though the client
    offers it."""
    server = await ws_server(chat_app())
    client = await ws_connect(server, "/api/socket?name=ada")
    assert "permessage-deflate" in client.ws.request.headers["Sec-WebSocket-Extensions"]
    assert "Sec-WebSocket-Extensions" not in client.ws.response.headers
    assert client.ws.protocol.extensions == []
