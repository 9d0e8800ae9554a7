"""uvicorn as ``pondctl serve`` runs it bounds request heads (``pondsocket.asgi.uvicorn``).

Plain uvicorn held a connection whose head never completed for ever, answered no oversized
head with 414/431 and upgraded HTTP/1.0 requests. Every test runs over both of uvicorn's
HTTP parsers (httptools, its default with ``uvicorn[standard]``, and h11), with a 1 s
handshake timeout so that nothing waits the default 10 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pondsocket.asgi import PondASGIApp, SSEOptions
from pondsocket.asgi.uvicorn import HandshakeLimits, http_protocol
from pondsocket_tools.serve import uvicorn_settings
from tests.asgi.conftest import build_chat
from tests.servers import HOST, start_pondctl_uvicorn

pytestmark = pytest.mark.timeout(60)

HANDSHAKE_TIMEOUT = 1.0
# A partial upgrade: the head's blank line never comes.
PARTIAL_UPGRADE = (b"GET /api/socket?token=ok HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\n")
UPGRADE = (b"GET /api/socket?token=ok HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


@pytest.fixture(params=["httptools", "h11"])
async def serve(request: pytest.FixtureRequest) -> Any:
    """``serve(**limits)``: the chat app under pondctl's uvicorn with the named parser and
    ``HandshakeLimits(handshake_timeout=1, **limits)``."""
    servers = []

    async def start(sse: SSEOptions | None = None, **limits: Any) -> Any:
        limits.setdefault("handshake_timeout", HANDSHAKE_TIMEOUT)
        server = await start_pondctl_uvicorn(
            PondASGIApp(build_chat(), sse=sse),
            http=http_protocol(HandshakeLimits(**limits), request.param))
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


async def until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection (bounded)."""
    async with asyncio.timeout(timeout):
        return await reader.read()


async def exchange(port: int, data: bytes, timeout: float = 3.0) -> bytes:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(data)
        await writer.drain()
        return await until_closed(reader, timeout)
    finally:
        writer.close()


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split()[1])


def test_pondctl_defaults_match_the_direct_server():
    http = uvicorn_settings(PondASGIApp(build_chat()), HOST, 0, "info")["http"]
    assert http.limits == HandshakeLimits(handshake_timeout=10.0, max_line=8192,
                                          max_headers=128)


async def test_partial_heads_are_all_dropped_by_the_server(serve):
    server = await serve()
    connections = []
    for index in range(200):
        reader, writer = await asyncio.open_connection(HOST, server.port)
        # Half send a partial upgrade, a quarter a request line only, the rest nothing.
        writer.write(PARTIAL_UPGRADE if index % 2 else b"GET /api/socket?token=ok HTTP/1.1\r\n"
                     if index % 4 == 0 else b"")
        connections.append((reader, writer))
    started = asyncio.get_running_loop().time()
    try:
        answers = await asyncio.gather(*(until_closed(reader, HANDSHAKE_TIMEOUT + 8)
                                         for reader, _ in connections))
    finally:
        for _, writer in connections:
            writer.close()
    elapsed = asyncio.get_running_loop().time() - started
    assert answers == [b""] * 200  # closed by the server, nothing answered
    assert elapsed >= HANDSHAKE_TIMEOUT * 0.9
    # ... and the server keeps none of them
    assert len(server.server.server_state.connections) == 0


async def test_a_partial_head_after_a_complete_request_is_dropped(serve):
    server = await serve(max_line=256)
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        # A POST whose body (no newline, longer than max_line) is a body, not a head line;
        # then a second complete request on the same connection: both are answered.
        body = b"x" * 1000
        writer.write(b"POST /api/socket HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s"
                     % (len(body), body))
        writer.write(b"DELETE /api/socket HTTP/1.1\r\nHost: t\r\nX-Connection-ID: nope\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(3):
            first = await reader.readuntil(b"X-Connection-ID header required")
            second = await reader.readuntil(b"connection not found")
        assert status_of(first) == 400
        assert status_of(second[second.index(b"HTTP/1.1"):]) == 404
        # Now a head that never ends: dropped within the timeout.
        writer.write(b"GET /api/socket HTTP/1.1\r\nHost: t\r\n")
        await writer.drain()
        assert await until_closed(reader, HANDSHAKE_TIMEOUT + 5) == b""
    finally:
        writer.close()


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /api/socket?token=ok&x=" + b"a" * 16_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
    (b"GET /api/socket?token=ok HTTP/1.1\r\n"
     + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", 431),
    (b"GET /api/socket?token=ok HTTP/1.1\r\nCookie: " + b"a" * 65_000 + b"\r\n\r\n", 431),
    (UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"), 505),
], ids=["16k-query-414", "200-headers-431", "64k-cookie-431", "http10-upgrade-505"])
async def test_oversized_heads_and_http10_upgrades_are_refused_at_once(serve, head, status):
    server = await serve(handshake_timeout=10.0)  # answered at once, not at a deadline
    answer = await exchange(server.port, head, timeout=3.0)
    assert status_of(answer) == status
    head, body = answer.split(b"\r\n\r\n", 1)
    assert f"content-length: {len(body)}".encode() in head.lower()  # a whole response
    assert b"connection: close" in head.lower()


async def test_the_limits_are_the_configured_ones(serve):
    server = await serve(max_line=1024, max_headers=4)
    long_target = b"GET /api/socket?x=" + b"a" * 1100 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    assert status_of(await exchange(server.port, long_target)) == 414
    five = b"Host: t\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(4))
    assert status_of(await exchange(server.port, b"GET / HTTP/1.1\r\n" + five + b"\r\n")) \
        == 431
    # just within both limits: reaches the app (its plain-GET 404)
    fits = (b"GET /?x=" + b"a" * 900 + b" HTTP/1.1\r\nHost: t\r\nX-0: y\r\nX-1: y\r\n"
            b"Connection: close\r\n\r\n")
    assert b"PondSocket: not found" in await exchange(server.port, fits)


async def test_websocket_and_sse_clients_outlive_the_handshake_timeout(serve, ws_connect,
                                                                      http_client, sse_open):
    server = await serve(sse=SSEOptions(keepalive_interval=0.3))
    ws = await ws_connect(server, "/api/socket?token=ok&name=ada")
    stream = await sse_open(server, "/api/socket?token=ok&name=bob")
    connect = await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    # the stream stays open past the handshake timeout: keep-alive comments for > 1 s
    loop = asyncio.get_running_loop()
    started = loop.time()
    while loop.time() - started < HANDSHAKE_TIMEOUT * 1.5:
        assert await stream.block() == [": keepalive"]
    # both still work: the SSE client joins with a POST, the WebSocket client sees it
    await ws.join("/room/1")
    assert (await ws.expect("PRESENCE", "JOIN", "/room/1"))["payload"]["changed"] == {
        "name": "ada"}
    response = await http_client.post(
        server.http_url("/api/socket"), headers={"x-connection-id": connect["payload"][
            "connectionId"]},
        json={"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL", "channelName": "/room/1",
              "requestId": "j", "payload": {}})
    assert response.status_code == 204
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "j")
    joined = await ws.expect("PRESENCE", "JOIN", "/room/1")
    assert joined["payload"]["changed"] == {"name": "bob"}


async def test_an_upgrade_request_served_as_plain_http_keeps_the_connection_guarded(serve):
    # Upgrade: websocket without Connection: upgrade is no upgrade for uvicorn: the app
    # answers it as a plain GET on a keep-alive connection, whose next head is bounded.
    server = await serve()
    reader, writer = await asyncio.open_connection(HOST, server.port)
    try:
        writer.write(b"GET /api/socket HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(3):
            answer = await reader.readuntil(b"Accept: text/event-stream)")
        assert status_of(answer) == 404
        writer.write(b"GET /api/socket HTTP/1.1\r\n")
        await writer.drain()
        assert await until_closed(reader, HANDSHAKE_TIMEOUT + 5) == b""
    finally:
        writer.close()
