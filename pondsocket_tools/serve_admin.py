"""The admin API beside the direct server: a small uvicorn server on a port of its own, in
the same process and event loop as :mod:`pondsocket.wsserver`.

The direct server answers plain HTTP only through ``websockets``' ``process_request`` (one
response to a GET, no request body, no streaming), which cannot carry the admin API's POST
actions or its SSE event stream. So ``pondctl serve --server websockets --admin-token T``
serves the admin API (and the health check) with uvicorn on ``--admin-port``, reading the
same PondSocket: the same documents, actions and event stream as under ``--server uvicorn``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from pondsocket import AdminOptions, PondSocket
from pondsocket.asgi.admin import AdminRoutes, send_json
from pondsocket.asgi.scope import request_path, send_plain
from pondsocket.asgi.uvicorn import HandshakeLimits, http_protocol
from pondsocket.view import ServerView

#: Seconds the admin server waits for open event streams when it stops.
ADMIN_GRACEFUL_SHUTDOWN = 3


class AdminApp:
    """An ASGI app serving only the admin API of ``pond`` under ``admin.prefix`` and the
    health check at ``health_path``; anything else is 404 (WebSocket and SSE connections
    belong to the direct server)."""

    def __init__(self, pond: PondSocket, admin: AdminOptions,
                 health_path: str = "/healthz") -> None:
        self.pond = pond
        self.routes = AdminRoutes(pond, admin)
        self.health_path = health_path

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008,
                        "reason": "WebSocket is served on the main port"})
            return
        if scope["type"] != "http":
            return
        if self.routes.handles(scope):
            await self.routes(scope, receive, send)
        elif request_path(scope) == self.health_path:
            if scope["method"] in ("GET", "HEAD"):
                await send_json(send, *ServerView(self.pond).health())
            else:
                await send_plain(send, 405, "PondSocket: health checks are GET or HEAD")
        else:
            await send_plain(send, 404, f"PondSocket: not found (the admin API is under "
                                        f"{self.routes.options.prefix})")


class AdminServer:
    """A running admin server: :attr:`port` it listens on, :meth:`stop` to end it."""

    def __init__(self, server: uvicorn.Server) -> None:
        self.server = server
        # uvicorn's tick: refreshes the Date header and notices should_exit
        self._ticks = asyncio.ensure_future(server.main_loop())

    @property
    def port(self) -> int:
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        """Close its connections (event streams included, bounded by
        :data:`ADMIN_GRACEFUL_SHUTDOWN`) and its socket."""
        self.server.should_exit = True
        await self._ticks
        await self.server.shutdown()


async def start_admin_server(pond: PondSocket, admin: AdminOptions, host: str, port: int, *,
                             handshake_timeout: float) -> AdminServer:
    """Serve :class:`AdminApp` on ``host:port`` with uvicorn (without its signal handling:
    the caller's process handles signals); returns once it listens. A port it cannot bind
    exits with status 3, as uvicorn does."""
    config = uvicorn.Config(AdminApp(pond, admin), host=host, port=port, lifespan="off",
                            ws="none", log_config=None, log_level="warning",
                            timeout_graceful_shutdown=ADMIN_GRACEFUL_SHUTDOWN,
                            http=http_protocol(HandshakeLimits(
                                handshake_timeout=handshake_timeout)))
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    return AdminServer(server)
