"""Fixtures for the ASGI adapter tests: a real uvicorn server and real clients.

* ``start_server(app, ws_max_size=..., pond_server=False)`` runs ``uvicorn.Server`` (or,
  with ``pond_server=True``, pondctl's server from ``pondsocket_tools.serve.create_server``)
  on 127.0.0.1 with an ephemeral port as a task of the test's event loop and returns a
  :class:`Running` server; it is shut down when the test ends.
* ``ws_connect(server, path, ...)`` opens a ``websockets`` client (:class:`WSClient`: JSON
  frames in and out, every receive bounded by a timeout); clients are closed at the end.
* ``http_client`` is an ``httpx.AsyncClient``; ``sse_open(server, path)`` opens an SSE stream
  read raw (:class:`SSEStream`), so comments and ``event:`` lines are visible.

Everything waits on events (a frame, a status, the end of a stream) with a bound, never on
sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from pondsocket import ConnectionContext, EventContext, JoinContext, Options, PondSocket
from pondsocket.asgi import PondASGIApp, SSEOptions
from pondsocket_tools.serve import create_server

# Bound for any single awaited event (a frame, a status, a stream chunk).
TIMEOUT = 5.0


class Running:
    """A uvicorn server started by :func:`start_server`."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], port: int) -> None:
        self.server = server
        self.task = task
        self.port = port

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self) -> None:
        """Graceful shutdown, as on SIGTERM (bounded)."""
        if self.task.done():
            await self.task
            return
        self.server.should_exit = True
        async with asyncio.timeout(TIMEOUT * 2):
            await self.task


async def _start(app: Any, *, ws_max_size: int = 16 * 1024 * 1024, pond_server: bool = False,
                 **config: Any) -> Running:
    # A safety net only: a stream left open must not hang the suite's teardown.
    config.setdefault("timeout_graceful_shutdown", 3)
    settings = dict(host="127.0.0.1", port=0, lifespan="on", log_level="warning",
                    log_config=None, ws_max_size=ws_max_size, **config)
    if pond_server:  # pondctl's server: closes the PondSocket first when shutting down
        server = create_server(app, **settings)
    else:
        server = uvicorn.Server(uvicorn.Config(app, **settings))
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(TIMEOUT):
        while not server.started:
            if task.done():  # failed to start: raise its error
                await task
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.005)  # start-up has no event to await
    port = server.servers[0].sockets[0].getsockname()[1]
    return Running(server, task, port)


@pytest.fixture
async def start_server() -> AsyncIterator[Any]:
    running: list[Running] = []

    async def start(app: Any, **kwargs: Any) -> Running:
        server = await _start(app, **kwargs)
        running.append(server)
        return server

    yield start
    for server in reversed(running):
        await server.stop()


def check_frame(frame: dict[str, Any], action: str, event: str, channel: str | None = None,
                request_id: str | None = None, payload: Any = ...) -> dict[str, Any]:
    """Assert ``frame``'s action and event, and the other fields that are given."""
    assert (frame["action"], frame["event"]) == (action, event), frame
    if channel is not None:
        assert frame["channelName"] == channel, frame
    if request_id is not None:
        assert frame["requestId"] == request_id, frame
    if payload is not ...:
        assert frame["payload"] == payload, frame
    return frame


class WSClient:
    """A ``websockets`` client speaking JSON frames, with bounded receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.connect_frame: dict[str, Any] = {}

    @property
    def user_id(self) -> str:
        return self.connect_frame["payload"]["id"]

    async def send(self, frame: dict[str, Any] | list[Any] | str | bytes) -> None:
        if isinstance(frame, dict | list):
            frame = json.dumps(frame)
        await self.ws.send(frame)

    async def send_msg(self, action: str, channel: str, event: str = "",
                       payload: Any = None, request_id: str = "") -> str:
        request_id = request_id or f"r-{action.lower()}-{channel}-{event}"
        await self.send({"action": action, "event": event or action, "channelName": channel,
                         "requestId": request_id,
                         "payload": {} if payload is None else payload})
        return request_id

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), f"expected a text frame, got {raw!r}"
        frame = json.loads(raw)
        assert list(frame) == ["action", "event", "channelName", "requestId", "payload"], frame
        return frame

    async def expect(self, action: str, event: str, channel: str | None = None,
                     request_id: str | None = None, payload: Any = ...) -> dict[str, Any]:
        """Receive the next frame and check it (only the given fields are checked)."""
        return check_frame(await self.recv(), action, event, channel, request_id, payload)

    async def join(self, channel: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        rid = await self.send_msg("JOIN_CHANNEL", channel, payload=params or {},
                                  request_id=f"join-{channel}")
        return await self.expect("SYSTEM", "ACKNOWLEDGE", channel, rid, {})

    async def closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str | None]:
        """Wait for the close handshake; returns the code and reason the server sent."""
        async with asyncio.timeout(timeout):
            await self.ws.wait_closed()
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)

    async def close(self) -> None:
        await self.ws.close()


@pytest.fixture
async def ws_connect(start_server: Any) -> AsyncIterator[Any]:
    # Depends on start_server so that clients are closed before the servers stop.
    clients: list[WSClient] = []

    async def open_client(server: Running, path: str, *, read_connect: bool = True,
                          **kwargs: Any) -> WSClient:
        kwargs.setdefault("open_timeout", TIMEOUT)
        kwargs.setdefault("close_timeout", 2)
        ws = await connect(server.ws_url(path), **kwargs)
        client = WSClient(ws)
        clients.append(client)
        if read_connect:
            client.connect_frame = await client.expect("CONNECT", "CONNECTION", "GATEWAY")
        return client

    yield open_client

    async def close(client: WSClient) -> None:
        # A client with many unread frames has stopped reading its socket, so it would not
        # see the server's close frame: give up on the handshake quickly.
        try:
            async with asyncio.timeout(0.5):
                await client.close()
        except Exception:
            client.ws.transport.abort()

    await asyncio.gather(*(close(client) for client in clients))


class SSEStream:
    """An open ``text/event-stream`` response, parsed into blocks (one event or comment)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks = response.aiter_bytes()
        self._buffer = b""
        self.ended = False

    @property
    def token(self) -> str:
        return self.response.headers["x-connection-id"]

    async def block(self, timeout: float = TIMEOUT) -> list[str]:
        """The lines of the next block (up to the blank line), or [] once the stream ended."""
        async with asyncio.timeout(timeout):
            while b"\n\n" not in self._buffer:
                try:
                    self._buffer += await anext(self._chunks)
                except StopAsyncIteration:
                    self.ended = True
                    assert self._buffer == b"", f"stream ended mid-event: {self._buffer!r}"
                    return []
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        return block.decode().split("\n")

    async def frame(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next event, which must be a single unnamed ``data:`` line of JSON."""
        lines = await self.block(timeout)
        assert len(lines) == 1 and lines[0].startswith("data: "), lines
        frame = json.loads(lines[0][len("data: "):])
        assert list(frame) == ["action", "event", "channelName", "requestId", "payload"], frame
        return frame

    async def expect(self, action: str, event: str, channel: str | None = None,
                     request_id: str | None = None, payload: Any = ...) -> dict[str, Any]:
        """The next event, checked as :meth:`WSClient.expect` does."""
        return check_frame(await self.frame(), action, event, channel, request_id, payload)

    async def ended_cleanly(self, timeout: float = TIMEOUT) -> None:
        assert await self.block(timeout) == []


@pytest.fixture
async def http_client(start_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def sse_open(start_server: Any, http_client: httpx.AsyncClient) -> AsyncIterator[Any]:
    stack = contextlib.AsyncExitStack()

    async def open_stream(server: Running, path: str,
                          headers: dict[str, str] | None = None) -> SSEStream:
        response = await stack.enter_async_context(http_client.stream(
            "GET", server.http_url(path),
            headers={"accept": "text/event-stream", **(headers or {})}))
        return SSEStream(response)

    async with stack:
        yield open_stream


# -- the application under test -------------------------------------------------------------


def build_chat(options: Options | None = None, pubsub: Any = None) -> PondSocket:
    """A small chat server exercising every path of the adapter.

    * ``/api/socket``: ``?token=bad`` is declined 401 "Invalid token", ``?token=boom`` makes
      the handler raise, ``?token=welcome`` replies ``welcome`` after CONNECT; any other
      connection is accepted with the assign ``name`` (from ``?name=``, default ``anon``).
    * ``/other``: a second endpoint accepting everyone (token scoping of SSE).
    * ``/room/:id``: join params ``{"deny": true}`` are declined 403 "denied"; members are
      tracked in presence as ``{"name": <name>}``.
    * events: ``shout`` is broadcast to every member, ``ping`` is answered ``pong``
      ``{"echo": payload}``, ``status`` updates presence, ``evict`` evicts the members named
      ``payload["name"]`` with the reason ``"bye"``, ``fail`` raises.
    """
    pond = PondSocket(options=options, pubsub=pubsub)

    async def authenticate(ctx: ConnectionContext) -> None:
        token = ctx.query.get("token")
        if token == "bad":
            ctx.decline(401, "Invalid token")
        elif token == "boom":
            raise RuntimeError("secret internal detail")
        elif token == "welcome":
            ctx.reply("welcome", {"motd": "hi"})
        else:
            ctx.accept(name=ctx.query.get("name", "anon"))

    async def join(ctx: JoinContext) -> None:
        if ctx.join_params.get("deny") is True:
            await ctx.decline(403, "denied")
            return
        await ctx.accept()
        await ctx.track({"name": ctx.user.assigns.get("name", "anon")})

    async def shout(ctx: EventContext) -> None:
        await ctx.broadcast("shout", ctx.payload)

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", {"echo": ctx.payload})

    async def status(ctx: EventContext) -> None:
        await ctx.update_presence({"name": ctx.user.assigns.get("name"),
                                   "status": ctx.payload.get("status")})

    async def evict(ctx: EventContext) -> None:
        assigns = await ctx.get_all_assigns()
        targets = [uid for uid, a in assigns.items() if a.get("name") == ctx.payload["name"]]
        await ctx.evict("bye", *targets)

    async def fail(ctx: EventContext) -> None:
        raise RuntimeError("handler exploded")

    endpoint = pond.create_endpoint("/api/socket", authenticate)
    rooms = endpoint.create_channel("/room/:id", join)
    for name, handler in (("shout", shout), ("ping", ping), ("status", status),
                          ("evict", evict), ("fail", fail)):
        rooms.on_message(name, handler)

    async def accept_all(ctx: ConnectionContext) -> None:
        ctx.accept(name=ctx.query.get("name", "anon"))

    other = pond.create_endpoint("/other", accept_all)
    other.create_channel("/room/:id", join)
    return pond


@pytest.fixture
def chat_app() -> Any:
    """``chat_app(options=None, sse=None)``: a :class:`PondASGIApp` over :func:`build_chat`."""

    def make(options: Options | None = None, sse: SSEOptions | None = None) -> PondASGIApp:
        return PondASGIApp(build_chat(options), sse=sse)

    return make
