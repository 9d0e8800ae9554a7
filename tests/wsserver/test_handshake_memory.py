"""The direct server keeps nothing for handshakes that never open a WebSocket.

``websockets`` runs the connection handler only for connections that reach OPEN; whatever
``process_request`` decided for the others must go with their connection. Before the fix the
direct server kept every accepted handshake in a plain dict until its handler ran: a plain GET
with a valid token (answered 426) leaked about 11 KB for ever.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import struct
import tracemalloc
import weakref
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from pondsocket import ConnectionContext, PondSocket
from pondsocket.wsserver import PondWebSocketsServer

UPGRADE_WITHOUT_KEY = (b"GET /socket?token=ok HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
                       b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
PLAIN_GET = b"GET /socket?token=ok HTTP/1.1\r\nHost: t\r\n\r\n"
UPGRADE = (b"GET /socket?token=ok HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


class RecordingServer(PondWebSocketsServer):
    """Remembers the last connection that reached ``process_request``, and when the decision
    on it was made."""

    last: weakref.ref[ServerConnection] | None = None
    decided: asyncio.Event | None = None

    async def process_request(self, connection: ServerConnection, request: Request
                              ) -> Response | None:
        self.last, self.decided = weakref.ref(connection), asyncio.Event()
        try:
            return await super().process_request(connection, request)
        finally:
            self.decided.set()


class Served:
    """A direct server on an ephemeral port whose connection handler can be held."""

    def __init__(self) -> None:
        self.pond = PondSocket()
        self.app = RecordingServer(self.pond)
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()
        self.port = 0

        async def authenticate(ctx: ConnectionContext) -> None:
            if ctx.query.get("token") != "ok":
                ctx.decline(401, "bad token")
                return
            self.entered.set()
            if self.hold is not None:
                await self.hold.wait()
            ctx.accept()

        self.pond.create_endpoint("/socket", authenticate)

    async def request(self, head: bytes) -> bytes:
        """Send a raw request head and return the status line of the answer."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(head)
        status = await reader.readline()
        writer.close()
        await writer.wait_closed()
        return status

    async def pending_after_collection(self) -> int:
        """Pending handshakes once the closed connections are gone (they sit in reference
        cycles, so only the cyclic collector frees them)."""
        for _ in range(200):
            gc.collect()
            if self.app.pending_handshakes == 0:
                return 0
            await asyncio.sleep(0.01)  # let websockets finish closing: polled, bounded
        return self.app.pending_handshakes


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    s = Served()
    await s.pond.start()
    async with s.app.listen("127.0.0.1", 0) as server:
        s.port = server.sockets[0].getsockname()[1]
        yield s
    await s.pond.close()


@pytest.mark.parametrize(("head", "status"), [(PLAIN_GET, b"426"),
                                              (UPGRADE_WITHOUT_KEY, b"400")],
                         ids=["plain-get-426", "upgrade-without-key-400"])
async def test_a_handshake_refused_after_authentication_is_not_kept(
        served: Served, head: bytes, status: bytes) -> None:
    for _ in range(20):
        line = await served.request(head)
        assert line.split()[1] == status
    assert await served.pending_after_collection() == 0


async def test_a_client_gone_before_the_101_is_not_kept(served: Served) -> None:
    served.hold = asyncio.Event()
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(UPGRADE)
    await served.entered.wait()  # the handler is deciding: the client resets the socket now
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    assert served.app.last is not None and served.app.decided is not None
    connection, decided = served.app.last(), served.app.decided
    assert connection is not None
    await connection.wait_closed()  # the server has seen it go
    served.hold.set()
    await decided.wait()  # accepted, for a connection that is gone
    assert served.app.pending_handshakes == 1
    del connection
    assert await served.pending_after_collection() == 0


async def test_an_opened_connection_takes_its_handshake(served: Served) -> None:
    async with connect(f"ws://127.0.0.1:{served.port}/socket?token=ok") as ws:
        assert '"CONNECT"' in str(await ws.recv())
        assert served.app.pending_handshakes == 0
    assert (await served.request(b"GET /socket?token=bad HTTP/1.1\r\nHost: t\r\n\r\n")
            ).split()[1] == b"401"


async def test_thousands_of_plain_gets_do_not_grow_the_server(served: Served) -> None:
    async def batch(n: int) -> None:
        await asyncio.gather(*(served.request(PLAIN_GET) for _ in range(n)))

    await batch(50)  # warm up lazily built state before measuring
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(40):
            await batch(50)
        await served.pending_after_collection()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # 2,000 requests: the leak kept about 11 KB each (22 MB); what remains is noise.
    assert grown < 1_000_000, f"the server grew by {grown} bytes"


@pytest.mark.parametrize(("head", "status"), [
    (b"GET /socket?token=ok&x=" + b"a" * 16_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", b"414"),
    (b"GET /socket?token=ok HTTP/1.1\r\n"
     + b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n", b"431"),
    (b"GET /socket?token=ok HTTP/1.1\r\nCookie: " + b"a" * 65_000 + b"\r\n\r\n", b"431"),
    (UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"), b"505"),
], ids=["16k-query-414", "200-headers-431", "64k-cookie-431", "http10-505"])
async def test_an_oversized_or_http10_request_is_refused_at_once(
        served: Served, head: bytes, status: bytes) -> None:
    assert (await asyncio.wait_for(served.request(head), 5)).split()[1] == status
