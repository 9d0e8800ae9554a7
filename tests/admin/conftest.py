"""Fixtures for the admin API tests: a real uvicorn server serving the chat app of
``tests/asgi`` with the admin API, real ``websockets`` clients and an ``httpx`` client.

Everything waits on events (a frame, a response, an SSE event) with a bound, never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pondsocket import AdminOptions
from pondsocket.adminbus import BUS
from pondsocket.asgi import PondASGIApp
from tests.asgi.chat_app import build_chat
from tests.servers import InProcessServer, start_uvicorn
from tests.wsclient import TIMEOUT, WSClient, close_all, open_client

TOKEN = "s3cret-token"
PREFIX = "/_pond/admin"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class Admin:
    """A running chat server with the admin API, and helpers to call it."""

    def __init__(self, server: InProcessServer, app: PondASGIApp, http: httpx.AsyncClient,
                 prefix: str) -> None:
        self.server = server
        self.app = app
        self.http = http
        self.prefix = prefix

    def url(self, route: str) -> str:
        return self.server.http_url(self.prefix + route)

    async def get(self, route: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.get(self.url(route), headers=AUTH if headers is None else headers)

    async def json(self, route: str) -> Any:
        response = await self.get(route)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    async def post(self, route: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(self.url(route), json=body,
                                    headers=AUTH if headers is None else headers)


class AdminEvents:
    """An open admin event stream: ``event:``/``data:`` blocks, comments skipped."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks = response.aiter_bytes()
        self._buffer = b""

    async def _block(self) -> list[str]:
        async with asyncio.timeout(TIMEOUT):
            while b"\n\n" not in self._buffer:
                self._buffer += await anext(self._chunks)
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        return block.decode().split("\n")

    async def subscribed(self) -> None:
        """The first block: the stream is subscribed from here on."""
        assert await self._block() == [": subscribed"]

    async def next(self) -> dict[str, Any]:
        """The next event (keepalive comments skipped); checks ``event:`` matches the type."""
        while True:
            lines = await self._block()
            if all(line.startswith(":") for line in lines):
                continue
            assert len(lines) == 2 and lines[0].startswith("event: "), lines
            event = json.loads(lines[1][len("data: "):])
            assert lines[0] == f"event: {event['type']}"
            return event

    async def expect(self, kind: str, /, **fields: Any) -> dict[str, Any]:
        event = await self.next()
        assert event["type"] == kind, event
        for key, value in fields.items():
            assert event[key] == value, event
        return event


@pytest.fixture
async def admin_env() -> AsyncIterator[Any]:
    """``start(admin=AdminOptions|None, prefix=PREFIX)`` -> :class:`Admin`; ``ws(admin, name)``
    -> a joined-nothing :class:`WSClient`; ``events(admin, query)`` -> :class:`AdminEvents`.
    Streams, clients and servers are closed in that order at the end."""
    servers: list[InProcessServer] = []
    clients: list[WSClient] = []
    stack = contextlib.AsyncExitStack()
    http = httpx.AsyncClient(timeout=TIMEOUT)

    class Env:
        @staticmethod
        async def start(admin: AdminOptions | None = None, *, default: bool = True,
                        pubsub: Any = None, options: Any = None) -> Admin:
            if admin is None and default:
                admin = AdminOptions(token=TOKEN)
            app = PondASGIApp(build_chat(options, pubsub), admin=admin)
            server = await start_uvicorn(app)
            servers.append(server)
            return Admin(server, app, http, admin.prefix if admin is not None else PREFIX)

        @staticmethod
        async def ws(admin: Admin, name: str, path: str = "/api/socket") -> WSClient:
            client = await open_client(admin.server, f"{path}?name={name}")
            clients.append(client)
            return client

        @staticmethod
        async def events(admin: Admin, query: str = "") -> AdminEvents:
            response = await stack.enter_async_context(http.stream(
                "GET", admin.url("/events" + query),
                headers={**AUTH, "accept": "text/event-stream"}))
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/event-stream"
            stream = AdminEvents(response)
            await stream.subscribed()
            return stream

    try:
        yield Env
    finally:
        await stack.aclose()
        await close_all(clients)
        await http.aclose()
        for server in reversed(servers):
            await server.stop()
        assert not BUS.active, "an admin event subscription leaked"
