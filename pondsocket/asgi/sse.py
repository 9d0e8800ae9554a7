"""Server-Sent Events over ASGI: GET opens the stream, POST sends, DELETE disconnects.

The stream's first frame is ``CONNECT`` whose ``payload.connectionId`` is a secret token; POST
and DELETE must carry it in ``X-Connection-ID`` and go to the same endpoint path. The token is
not the user id (knowing someone's user id gives no power over their connection).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..transport.sse import SSEServerTransport
from ..types import Headers
from .scope import Scope, incoming_connection, request_path, send_plain
from .sse_relay import SSERelay, run_command

if TYPE_CHECKING:  # an adapter drives the core through the objects it is given
    from ..endpoint import Endpoint
    from ..server import PondSocket

log = logging.getLogger("pondsocket.asgi.sse")

CONNECTION_HEADER = "x-connection-id"


@dataclass(slots=True)
class SSEOptions:
    """How SSE streams are served.

    * ``keepalive_interval``: seconds of silence after which a ``: keepalive`` comment is
      sent, so proxies and clients do not time the stream out.
    * ``named_events``: add an ``event: <name>`` line to each frame. Off by default: the JS
      ``SSEClient`` listens to unnamed events only.
    * ``cors_origins``: origins allowed to open streams and POST from a browser (``["*"]``
      for any); empty for no CORS headers.
    """

    keepalive_interval: float = 15.0
    named_events: bool = False
    cors_origins: tuple[str, ...] = ()


class SSERegistry:
    """Open SSE connections by secret token, each bound to its endpoint; and the tokens of
    the last :attr:`ENDED_MEMORY` streams that ended, so that a client's ``DELETE`` that
    crossed the end of its stream is answered 204 (done), not 404."""

    ENDED_MEMORY = 1024

    def __init__(self) -> None:
        self._by_token: dict[str, tuple[Endpoint, SSEServerTransport]] = {}
        self._ended: OrderedDict[str, Endpoint] = OrderedDict()

    def add(self, endpoint: Endpoint, transport: SSEServerTransport) -> str:
        token = secrets.token_urlsafe(24)
        self._by_token[token] = (endpoint, transport)
        return token

    def get(self, endpoint: Endpoint, token: str | None) -> SSEServerTransport | None:
        entry = self._by_token.get(token or "")
        if entry is None or entry[0] is not endpoint:
            return None
        return entry[1]

    def remove(self, token: str) -> None:
        entry = self._by_token.pop(token, None)
        if entry is not None:
            self._ended[token] = entry[0]
            if len(self._ended) > self.ENDED_MEMORY:
                self._ended.popitem(last=False)

    def ended(self, endpoint: Endpoint, token: str | None) -> bool:
        """Whether ``token`` named a stream of ``endpoint`` that has ended (recently)."""
        return self._ended.get(token or "") is endpoint

    def __len__(self) -> int:
        return len(self._by_token)


def wants_event_stream(scope: Scope) -> bool:
    accept = Headers(scope.get("headers") or []).get("accept") or ""
    return "text/event-stream" in accept


def _cors_headers(scope: Scope, options: SSEOptions) -> list[tuple[bytes, bytes]]:
    if not options.cors_origins:
        return []
    origin = Headers(scope.get("headers") or []).get("origin")
    if origin is None:
        return []
    if "*" in options.cors_origins or origin in options.cors_origins:
        allowed = origin
    else:
        return []
    return [(b"access-control-allow-origin", allowed.encode()),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", b"X-Connection-ID"),
            (b"vary", b"Origin")]


async def serve_sse_stream(pond: PondSocket, registry: SSERegistry, options: SSEOptions,
                           scope: Scope, receive: Any, send: Any) -> None:
    """Handle ``GET`` with ``Accept: text/event-stream``: authenticate, then stream."""
    cors = _cors_headers(scope, options)
    match = pond.match_endpoint(request_path(scope))
    if match is None:
        await send_plain(send, 404, "PondSocket: no endpoint at this path", cors)
        return
    endpoint = match.endpoint
    user_id = str(uuid.uuid4())
    ctx = await endpoint.request_connection(incoming_connection(scope, user_id,
                                                               match.route.params),
                                            route=match.route)
    if not ctx.is_accepted:
        code, message = ctx.decline_info or (403, "Forbidden")
        await send_plain(send, code, message, cors)
        return
    if endpoint.at_capacity():  # filled up while the connection handler was running
        await send_plain(send, 503, "Too many connections", cors)
        return
    transport = SSEServerTransport(id=user_id, assigns=ctx.assigns)
    token = registry.add(endpoint, transport)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache, no-transform"),
            (b"x-accel-buffering", b"no"),
            (b"x-connection-id", token.encode()),
            *cors,
        ]})
        try:
            await endpoint.register_transport(transport, ctx, connection_id=token)
        except Exception as err:  # filled up between the check and now
            await send({"type": "http.response.body", "body": f": {err}\n\n".encode()})
            return
        watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, transport))
        try:
            await _stream(transport, options, send)
        finally:
            watcher.cancel()
    finally:
        registry.remove(token)
        if transport.is_active():
            transport.connection_lost()
        await transport.wait_closed()


async def _watch_disconnect(receive: Any, transport: SSEServerTransport) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    transport.connection_lost()


async def _stream(transport: SSEServerTransport, options: SSEOptions, send: Any) -> None:
    named = options.named_events
    while True:
        try:
            async with asyncio.timeout(options.keepalive_interval):
                frame = await transport.next_frame()
        except TimeoutError:
            await send({"type": "http.response.body", "body": b": keepalive\n\n",
                        "more_body": True})
            continue
        if frame is None:
            break
        if named:
            name = frame.event.replace("\r", " ").replace("\n", " ") or "message"
            chunk = b"event: " + name.encode() + b"\ndata: " + frame.data + b"\n\n"
        else:
            chunk = b"data: " + frame.data + b"\n\n"
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def serve_sse_command(pond: PondSocket, registry: SSERegistry, options: SSEOptions,
                            scope: Scope, receive: Any, send: Any,
                            relay: SSERelay | None = None) -> None:
    """Handle ``POST`` (one client frame) and ``DELETE`` (disconnect) for an SSE connection;
    with a ``relay``, one whose stream another cluster node holds is performed there."""
    cors = _cors_headers(scope, options)
    path = request_path(scope)
    match = pond.match_endpoint(path)
    if match is None:
        await send_plain(send, 404, "PondSocket: no endpoint at this path", cors)
        return
    token = Headers(scope.get("headers") or []).get(CONNECTION_HEADER)
    if not token:
        await send_plain(send, 400, "X-Connection-ID header required", cors)
        return
    transport = registry.get(match.endpoint, token)
    if transport is None and scope["method"] == "DELETE" and registry.ended(match.endpoint,
                                                                            token):
        await send_plain(send, 204, "", cors)  # its stream already ended: nothing left to do
        return
    if transport is None and relay is None:
        await send_plain(send, 404, "connection not found", cors)
        return
    method = scope["method"]
    body = b""
    if method == "POST":
        limit = (transport.max_message_size if transport is not None
                 else pond.options.max_message_size)
        try:
            body = await _read_body(receive, limit)
        except ConnectionAbortedError:
            return  # the client went away
        except OverflowError:
            await send_plain(send, 413, f"Message exceeds the limit of {limit} bytes", cors)
            return
    if transport is not None:
        status, message = await run_command(transport, method, body)
    else:
        assert relay is not None
        answer = await relay.relay(path, token, method, body)
        status, message = answer if answer is not None else (404, "connection not found")
    await send_plain(send, status, message, cors)


async def _read_body(receive: Any, limit: int) -> bytes:
    """The request body; ``OverflowError`` past ``limit`` bytes, ``ConnectionAbortedError``
    when the client disconnects first."""
    body = bytearray()
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > limit:
            raise OverflowError
    return bytes(body)


async def serve_preflight(options: SSEOptions, scope: Scope, send: Any) -> None:
    """Answer a CORS preflight for the SSE endpoints."""
    cors = _cors_headers(scope, options)
    if cors:
        cors += [(b"access-control-allow-methods", b"GET, POST, DELETE, OPTIONS"),
                 (b"access-control-allow-headers", b"Content-Type, X-Connection-ID"),
                 (b"access-control-max-age", b"600")]
    await send_plain(send, 204 if cors else 404, "", cors)
