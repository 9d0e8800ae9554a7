"""Serving one WebSocket connection over ASGI."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from ..enums import TransportType
from ..errors import PondError
from ..transport.base import CLOSE_TRY_AGAIN_LATER, BaseTransport
from ..transport.base import truncate_close_reason as close_reason
from ..wire import Frame
from .scope import Scope, incoming_connection, request_path

if TYPE_CHECKING:  # an adapter drives the core through the objects it is given
    from ..server import PondSocket

log = logging.getLogger("pondsocket.asgi")

class ASGIWebSocketTransport(BaseTransport):
    """A :class:`~pondsocket.BaseTransport` writing to an ASGI ``websocket`` connection."""

    kind = TransportType.WEBSOCKET

    def __init__(self, *, id: str, send: Any, assigns: dict[str, Any] | None = None) -> None:
        super().__init__(id, assigns=assigns)
        self._send = send
        self._peer_gone = False
        self._closing_task: asyncio.Future[None] | None = None

    async def _write(self, frame: Frame) -> None:
        await self._send({"type": "websocket.send", "text": frame.text})

    async def _shutdown(self, code: int, reason: str) -> None:
        if self._peer_gone:
            return
        self._peer_gone = True
        reason = close_reason(reason)
        # A peer that stopped reading holds the close frame back (the server waits for its
        # buffers to drain), and with it the cleanup of this connection: wait at most
        # send_timeout, then let the close frame go out in the background.
        closing = asyncio.ensure_future(
            self._send({"type": "websocket.close", "code": code, "reason": reason}))
        try:
            await asyncio.wait_for(asyncio.shield(closing), self.send_timeout)
        except TimeoutError:
            self._closing_task = closing
            closing.add_done_callback(_ignore_result)

    def peer_disconnected(self) -> None:
        self._peer_gone = True
        self.connection_lost()


def _ignore_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # the peer went away before the close frame could be sent


async def _deny(scope: Scope, send: Any, status: int, message: str) -> None:
    """Refuse the handshake with a real HTTP status where the server supports it."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = message.encode()
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 4000 + status if status < 1000 else status,
                    "reason": close_reason(message)})


async def serve_websocket(pond: PondSocket, scope: Scope, receive: Any, send: Any) -> None:
    """Run the handshake, then pump frames until either side closes."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    match = pond.match_endpoint(request_path(scope))
    if match is None:
        await _deny(scope, send, 404, "PondSocket: no endpoint at this path")
        return
    endpoint = match.endpoint
    connection_id = str(uuid.uuid4())
    ctx = await endpoint.request_connection(
        incoming_connection(scope, connection_id, match.route.params), route=match.route)
    if not ctx.is_accepted:
        code, reason = ctx.decline_info or (403, "Forbidden")
        await _deny(scope, send, code, reason)
        return
    if endpoint.at_capacity():  # filled up while the connection handler was running
        await _deny(scope, send, 503, "Too many connections")
        return
    transport = ASGIWebSocketTransport(id=connection_id, send=send, assigns=ctx.assigns)
    await send({"type": "websocket.accept"})
    try:
        await endpoint.register_transport(transport, ctx)
    except PondError as err:  # filled up between the check and now
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER,
                    "reason": close_reason(err.message)})
        return
    try:
        while transport.is_active():
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                data = message.get("text")
                await transport.feed(data if data is not None else message.get("bytes") or b"")
                if transport.queue_depth * 2 >= transport.queue_limit:
                    # Backpressure: frames the server already buffered are handled without
                    # yielding, so a client pipelining requests would overflow its own queue
                    # with the answers. Let them be written before reading more.
                    await transport.drain()
            elif kind == "websocket.disconnect":
                transport.peer_disconnected()
                break
    except OSError as exc:
        log.debug("websocket %s failed: %r", connection_id, exc)
        transport.peer_disconnected()
    finally:
        if transport.is_active():
            transport.connection_lost()
        await transport.wait_closed()
