"""One ASGI application serving a :class:`~pondsocket.PondSocket`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..admin.options import AdminOptions
from ..view import ServerView
from .admin import AdminRoutes, send_json
from .scope import Scope, request_path, send_plain
from .sse import (
    SSEOptions,
    SSERegistry,
    serve_preflight,
    serve_sse_command,
    serve_sse_stream,
    wants_event_stream,
)
from .sse_relay import SSERelay
from .websocket import serve_websocket

if TYPE_CHECKING:  # an adapter drives the core through the objects it is given
    from ..server import PondSocket

log = logging.getLogger("pondsocket.asgi")


class PondASGIApp:
    """Serves WebSocket and SSE connections (and ASGI lifespan) for ``pond``.

    Mount it anywhere (Starlette ``Mount("/ws", app=PondASGIApp(pond))``); endpoint paths are
    matched relative to the mount point. Serve it with ``uvicorn module:app`` or
    ``pondctl serve module:app``. On lifespan shutdown every connection is closed.

    ``admin=AdminOptions(token=...)`` enables the admin HTTP API under its prefix (see
    ``docs/admin.md``); without it there are no admin routes. ``health_path="/healthz"``
    answers load balancers' health checks there (``GET``/``HEAD``, no token): 200 while
    serving, 503 once shutting down.
    """

    def __init__(self, pond: PondSocket, *, sse: SSEOptions | None = None,
                 admin: AdminOptions | None = None, health_path: str | None = None) -> None:
        if health_path is not None and not health_path.startswith("/"):
            raise ValueError("health_path must start with /")
        self.pond = pond
        self.sse_options = sse or SSEOptions()
        self.sse_connections = SSERegistry()
        self.admin: AdminRoutes | None = AdminRoutes(pond, admin) if admin is not None else None
        self.health_path = health_path
        # In a cluster, SSE commands for streams held by other nodes are relayed there.
        self.sse_relay = (SSERelay(pond, self.sse_connections) if pond.cluster is not None
                          else None)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await serve_websocket(self.pond, scope, receive, send)
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.admin is not None and self.admin.handles(scope):
            await self.admin(scope, receive, send)
            return
        method = scope["method"]
        if self.health_path is not None and request_path(scope) == self.health_path:
            await self._health(method, send)
            return
        args = (self.pond, self.sse_connections, self.sse_options, scope, receive, send)
        if method == "GET" and wants_event_stream(scope):
            await serve_sse_stream(*args)
        elif method in ("POST", "DELETE"):
            await serve_sse_command(*args, relay=self.sse_relay)
        elif method == "OPTIONS":
            await serve_preflight(self.sse_options, scope, send)
        else:
            await send_plain(send, 404, "PondSocket: not found (open a WebSocket, or GET "
                                        "with Accept: text/event-stream)")

    async def _health(self, method: str, send: Any) -> None:
        """200 ``{"status": "ok", ...}`` while serving, 503 ``{"status": "stopping"}`` once
        the server is closing (so a load balancer stops sending new clients here)."""
        if method not in ("GET", "HEAD"):
            await send_plain(send, 405, "PondSocket: health checks are GET or HEAD")
            return
        await send_json(send, *ServerView(self.pond).health())

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.pond.start()  # join the cluster, when there is one
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.pond.close()
                except Exception as exc:
                    log.exception("error while closing")
                    await send({"type": "lifespan.shutdown.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return
