"""Fixtures for the adapter and server tests: real servers and real clients.

* ``ws_server(app, **config)``: **parametrised over every WebSocket server the project
  offers** (:data:`tests.servers.WS_SERVERS`: uvicorn as ``pondctl serve`` runs it, and the
  direct ``websockets`` server); starts ``app`` (a ``PondASGIApp`` or a ``PondSocket``) on
  an ephemeral port. A test using it runs once per server; ``server.kind`` names the one.
* ``start_server(app, pond_server=False, **config)``: uvicorn only (``uvicorn.Server``, or
  with ``pond_server=True`` pondctl's server), for what only ASGI serves (SSE, admin,
  mounting, uvicorn's own settings).
* ``ws_connect(server, path, ...)`` opens a :class:`~tests.wsclient.WSClient` (JSON frames
  in and out, every receive bounded by a timeout); clients are closed at the end.
* ``http_client`` is an ``httpx.AsyncClient``; ``sse_open(server, path)`` opens an SSE stream
  read raw (:class:`~tests.sseclient.SSEStream`), so comments and ``event:`` lines are
  visible.

Every server started is stopped when the test ends. Everything waits on events (a frame, a
status, the end of a stream) with a bound, never on sleeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pondsocket import Options
from pondsocket.asgi import PondASGIApp, SSEOptions
from tests.asgi.chat_app import build_chat
from tests.servers import WS_SERVERS, InProcessServer, start_uvicorn, start_ws_server
from tests.sseclient import SSEStream
from tests.wsclient import TIMEOUT, WSClient, check_frame, close_all, open_client

# Importable from here for older tests; new code imports them from their own modules.
__all__ = ["TIMEOUT", "SSEStream", "WSClient", "build_chat", "check_frame"]


@pytest.fixture
async def started_servers() -> AsyncIterator[list[InProcessServer]]:
    """Every server the test started; stopped, last first, when it ends."""
    servers: list[InProcessServer] = []
    yield servers
    for server in reversed(servers):
        await server.stop()


@pytest.fixture
def start_server(started_servers: list[InProcessServer]) -> Any:
    async def start(app: Any, **config: Any) -> InProcessServer:
        server = await start_uvicorn(app, **config)
        started_servers.append(server)
        return server

    return start


@pytest.fixture(params=WS_SERVERS)
def ws_server(request: pytest.FixtureRequest, started_servers: list[InProcessServer]) -> Any:
    async def start(app: Any, **config: Any) -> InProcessServer:
        server = await start_ws_server(request.param, app, **config)
        started_servers.append(server)
        return server

    return start


@pytest.fixture
async def ws_connect(started_servers: list[InProcessServer]) -> AsyncIterator[Any]:
    # Depends on started_servers so that clients are closed before the servers stop.
    clients: list[WSClient] = []

    async def connect(server: InProcessServer, path: str, **kwargs: Any) -> WSClient:
        client = await open_client(server, path, **kwargs)
        clients.append(client)
        return client

    yield connect
    await close_all(clients)


@pytest.fixture
async def http_client(started_servers: list[InProcessServer]
                      ) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
async def sse_open(started_servers: list[InProcessServer],
                   http_client: httpx.AsyncClient) -> AsyncIterator[Any]:
    stack = contextlib.AsyncExitStack()

    async def open_stream(server: InProcessServer, path: str,
                          headers: dict[str, str] | None = None) -> SSEStream:
        response = await stack.enter_async_context(http_client.stream(
            "GET", server.http_url(path),
            headers={"accept": "text/event-stream", **(headers or {})}))
        return SSEStream(response)

    async with stack:
        yield open_stream


@pytest.fixture
def chat_app() -> Any:
    """``chat_app(options=None, sse=None, leaves=None)``: a :class:`PondASGIApp` over
    :func:`~tests.asgi.chat_app.build_chat`."""

    def make(options: Options | None = None, sse: SSEOptions | None = None,
             leaves: list[tuple[str, str, str]] | None = None) -> PondASGIApp:
        return PondASGIApp(build_chat(options, leaves=leaves), sse=sse)

    return make
