"""A closed connection is freed by reference counting: it leaves nothing in reference cycles.

With thousands of connections a full garbage collection pauses the server for long (issue
#15), so a server may ``gc.freeze()`` its long-lived objects; frozen objects in a cycle are
never freed. Each test opens connections on a real server (uvicorn as ``pondctl serve`` runs
it, and the direct server), watches their server-side objects (this project's, and the
protocols, connections and flow control of ``websockets`` and uvicorn), ends them one way
with the collector disabled, and awaits every watched object's death: one in a cycle never
dies. Then a full collection must find none of them either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pondsocket import ConnectionContext, JoinContext, Options, PondListener, PondSocket
from pondsocket.asgi import PondASGIApp
from tests.gcwatch import baseline, freed_by_collection, gc_disabled, watch
from tests.servers import InProcessServer, start_pondctl_uvicorn
from tests.wsclient import TIMEOUT, WSClient, open_client

N = 8  # connections per lifecycle
PATH = "/socket?token=ok"


class Pond:
    """A pond whose handshakes can be held (to watch refused ones while they are pending)
    and whose closed connections can be awaited."""

    def __init__(self) -> None:
        # Small queue and send timeout: a stalled reader overflows, and is let go, quickly.
        self.pond = PondSocket(options=Options(send_channel_buffer=4, send_timeout=0.5))
        self.endpoint = self.pond.create_endpoint("/socket", self._authenticate)
        self.endpoint.create_channel("/room/:id", self._join)
        self.hold: asyncio.Event | None = None  # set: handshakes held until it is set
        self.held = 0
        self.all_held = asyncio.Event()
        self.open = 0
        self.all_closed = asyncio.Event()
        self.all_closed.set()
        self.before: dict[int, Any] = {}  # the baseline of the lifecycle under test
        self.pond.attach(_Counter(self))

    async def _authenticate(self, ctx: ConnectionContext) -> None:
        if self.hold is not None:
            self.held += 1
            if self.held == N:
                self.all_held.set()
            await self.hold.wait()
        if ctx.query.get("token") != "ok":
            ctx.decline(401, "Invalid token")
            return
        ctx.accept()

    async def _join(self, ctx: JoinContext) -> None:
        await ctx.accept()
        await ctx.track({"status": "online"})


class _Counter(PondListener):
    def __init__(self, owner: Pond) -> None:
        self.owner = owner

    def connection_opened(self, endpoint_path: str, user_id: str) -> None:
        self.owner.open += 1
        self.owner.all_closed.clear()

    def connection_closed(self, endpoint_path: str, user_id: str, duration: float) -> None:
        self.owner.open -= 1
        if self.owner.open == 0:
            self.owner.all_closed.set()


async def _open(server: InProcessServer, count: int = N) -> list[WSClient]:
    return list(await asyncio.gather(*(open_client(server, PATH) for _ in range(count))))


async def _join(clients: list[WSClient], room: Callable[[int], str]) -> None:
    await asyncio.gather(*(client.join(room(i)) for i, client in enumerate(clients)))


async def _connect_close(server: InProcessServer, pond: Pond) -> Any:
    clients = await _open(server)
    watched = watch(pond.before)
    await asyncio.gather(*(client.close() for client in clients))
    return watched


async def _join_leave_close(server: InProcessServer, pond: Pond) -> Any:
    clients = await _open(server)
    await _join(clients, lambda i: f"/room/{i % 3}")  # the rooms close as their last leaves
    watched = watch(pond.before)
    assert watched.classes["pondsocket.channel.Channel"] == 3
    for i, client in enumerate(clients):
        await client.send_msg("LEAVE_CHANNEL", f"/room/{i % 3}")
    await asyncio.gather(*(client.close() for client in clients))
    return watched


async def _refused(server: InProcessServer, pond: Pond) -> Any:
    pond.hold = asyncio.Event()

    async def refused() -> None:
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(server.ws_url("/socket?token=wrong"), open_timeout=TIMEOUT):
                pass
        assert refusal.value.response.status_code == 401

    attempts = asyncio.gather(*(refused() for _ in range(N)))
    async with asyncio.timeout(TIMEOUT):
        await pond.all_held.wait()
    watched = watch(pond.before)  # the handshakes, waiting for the authentication
    pond.hold.set()
    await attempts
    return watched


async def _closed_by_server(server: InProcessServer, pond: Pond) -> Any:
    clients = await _open(server)
    watched = watch(pond.before)
    for connection in list(pond.endpoint.connections):
        await pond.endpoint.close_connection(connection)
    for client in clients:
        assert (await client.closed())[0] == 1000
    return watched


async def _overflow(server: InProcessServer, pond: Pond) -> Any:
    clients = await _open(server)
    await _join(clients, lambda i: "/room/flood")
    for client in clients:
        client.ws.transport.pause_reading()  # stalled readers: their queues overflow
    watched = watch(pond.before)
    channel = pond.pond.find_channel("/room/flood")
    assert channel is not None
    while not pond.all_closed.is_set():
        await channel.broadcast("flood", {"text": "x" * 4096})
        await asyncio.sleep(0)  # let the writers and the closes run
    for client in clients:
        client.ws.transport.resume_reading()
        assert (await client.rest())[1][0] == 1013  # closed for overflow
    return watched


async def _vanish(server: InProcessServer, pond: Pond) -> Any:
    clients = await _open(server)
    await _join(clients, lambda i: "/room/gone")
    watched = watch(pond.before)
    for client in clients:
        client.ws.transport.abort()  # gone without a close frame
    return watched


LIFECYCLES: dict[str, Callable[[InProcessServer, Pond], Awaitable[Any]]] = {
    "connect-close": _connect_close, "join-leave-close": _join_leave_close,
    "refused": _refused, "closed-by-server": _closed_by_server, "overflow": _overflow,
    "vanish": _vanish}


@pytest.fixture
async def pond() -> AsyncIterator[Pond]:
    holder = Pond()
    yield holder
    await holder.pond.close()


@pytest.mark.parametrize("lifecycle", list(LIFECYCLES))
async def test_closed_websocket_connections_leave_no_reference_cycles(
        ws_server: Any, pond: Pond, lifecycle: str) -> None:
    server = await ws_server(pond.pond)
    run = LIFECYCLES[lifecycle]
    # Once first: what the first connection creates for good (caches, the write watchdog)
    # is not a connection's.
    await run(server, pond)
    async with asyncio.timeout(TIMEOUT):
        await pond.all_closed.wait()
    pond.hold, pond.held = None, 0
    pond.all_held.clear()
    with gc_disabled():
        pond.before = baseline()
        watched = await run(server, pond)
        # Watching the right things: the connections' protocols (uvicorn's HTTP protocol,
        # which hands an upgraded connection over, is freed then: it is watched only if not).
        counts = watched.classes
        assert counts["websockets.server.ServerProtocol"] == N, counts
        assert counts["pondsocket.asgi.uvicorn.PondWebSocketProtocol" if server.kind == "uvicorn"
                      else "pondsocket.wsserver.PondServerConnection"] == N, counts
        if lifecycle != "refused":
            transport = ("pondsocket.asgi.websocket.ASGIWebSocketTransport"
                         if server.kind == "uvicorn" else "pondsocket.wsserver.WebSocketsTransport")
            assert counts[transport] == N, counts
        await _settled(pond, watched)
        assert freed_by_collection(pond.before) == {}


async def _settled(pond: Pond, watched: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        await pond.all_closed.wait()  # the pond let every connection go
    await watched.all_freed(TIMEOUT)  # and so did the server, by reference counting


async def test_closed_sse_streams_leave_no_reference_cycles(pond: Pond) -> None:
    server = await start_pondctl_uvicorn(PondASGIApp(pond.pond))
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            async def open_streams(count: int) -> Any:
                streams = contextlib.AsyncExitStack()
                for _ in range(count):
                    response = await streams.enter_async_context(http.stream(
                        "GET", server.http_url(PATH), headers={"accept": "text/event-stream"}))
                    # Kept until the stream closes: a line iterator dropped would end it.
                    lines: Any = response.aiter_lines()
                    streams.push_async_callback(lines.aclose)
                    async for line in lines:
                        if line.startswith("data:"):
                            assert json.loads(line[5:])["event"] == "CONNECTION"
                            break
                return streams

            await (await open_streams(1)).aclose()  # once first, as for WebSocket
            async with asyncio.timeout(TIMEOUT):
                await pond.all_closed.wait()
            with gc_disabled():
                pond.before = baseline()
                streams = await open_streams(N)
                watched = watch(pond.before)
                assert watched.classes["pondsocket.transport.sse.SSEServerTransport"] == N
                await streams.aclose()
                await _settled(pond, watched)
                assert freed_by_collection(pond.before) == {}
    finally:
        await server.stop()
