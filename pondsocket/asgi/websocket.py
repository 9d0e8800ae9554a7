"""Serving one WebSocket connection over ASGI."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

from ..enums import TransportType
from ..errors import PondError
from ..transport.base import CLOSE_TRY_AGAIN_LATER, BaseTransport
from ..transport.base import truncate_close_reason as close_reason
from ..wire import Frame
from .scope import SEND_FRAME_NOW, SEND_TEXT_NOW, Scope, incoming_connection, request_path

if TYPE_CHECKING:  # an adapter drives the core through the objects it is given
    from ..server import PondSocket

log = logging.getLogger("pondsocket.asgi")

class ASGIWebSocketTransport(BaseTransport):
    """A :class:`~pondsocket.BaseTransport` writing to an ASGI ``websocket`` connection.

    A frame for a connection with nothing queued is written at once: the ASGI ``send`` is
    started in place and, when the server takes the message without suspending (uvicorn does
    unless the peer's socket buffer is full), no writer task is woken and none is kept per
    idle connection. A ``send`` that does suspend is finished in a task, and the frames that
    follow queue behind it, so the order and the queue bound hold as before.

    ``send_now``, when the server offers it (the :data:`~pondsocket.asgi.scope.SEND_TEXT_NOW`
    scope extension), writes the frame's UTF-8 bytes without an ASGI message, a coroutine or
    a re-encoding per recipient; when it declines, the frame goes through ``send``.
    ``send_frame_now`` (:data:`~pondsocket.asgi.scope.SEND_FRAME_NOW`) does the same with the
    whole frame, so that the server can write bytes shared by every recipient (compress-once).
    """

    __slots__ = ("_closing_task", "_peer_gone", "_send", "_send_frame_now", "_send_now",
                 "_suspended")

    kind = TransportType.WEBSOCKET
    sync_writes = True
    persistent_writer = False

    def __init__(self, *, id: str, send: Any, assigns: dict[str, Any] | None = None,
                 send_now: Callable[[bytes], bool] | None = None,
                 send_frame_now: Callable[[Frame], bool] | None = None) -> None:
        super().__init__(id, assigns=assigns)
        self._send = send
        self._send_now = send_now
        self._send_frame_now = send_frame_now
        self._peer_gone = False
        self._closing_task: asyncio.Future[None] | None = None
        self._suspended: asyncio.Task[None] | None = None  # a send that had to wait

    def _write_now(self, frame: Frame) -> bool:
        if self._suspended is not None:
            return False  # behind the send still waiting: through the queue
        if self._send_frame_now is not None:
            return self._send_frame_now(frame)
        if self._send_now is not None:
            return self._send_now(frame.data)
        send: Coroutine[Any, Any, None] = self._send({"type": "websocket.send",
                                                      "text": frame.text})
        try:
            yielded = send.send(None)
        except StopIteration:
            return True  # written without waiting: the common case
        except Exception as exc:  # the peer is gone
            log.debug("write to %s failed: %r", self.id, exc)
            self.connection_lost()
            return True  # dropped with the connection, as a failed write in the writer is
        task = asyncio.get_running_loop().create_task(_finish(send, yielded))
        self._suspended = task
        task.add_done_callback(self._suspended_done)
        return True

    def _suspended_done(self, task: asyncio.Task[None]) -> None:
        self._suspended = None
        if not task.cancelled() and task.exception() is not None:
            log.debug("write to %s failed: %r", self.id, task.exception())
            self.connection_lost()

    async def _write(self, frame: Frame) -> None:
        suspended = self._suspended
        if suspended is not None:  # the frame before this one is still being sent
            await suspended
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
        except Exception as exc:  # the peer went away first: nothing left to close
            log.debug("close of %s failed: %r", self.id, exc)
            # Its traceback holds this frame, which holds the task that holds the error: a
            # reference cycle around the connection's protocol, for the collector to free.
            exc.__traceback__ = None

    def peer_disconnected(self) -> None:
        self._peer_gone = True
        self.connection_lost()


class _Resumed:
    """Awaiting it continues a coroutine that was started by hand and suspended: what it
    yielded goes to the task, and what the task sends or throws goes back to it (what
    ``yield from`` does, from the second step on)."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                value = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation: the send sees it where it waits
                try:
                    yielded = coro.throw(exc)
                except StopIteration:
                    return
                continue
            try:
                yielded = coro.send(value)
            except StopIteration:
                return


async def _finish(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    await _Resumed(coro, yielded)


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
    transport = ASGIWebSocketTransport(
        id=connection_id, send=send, assigns=ctx.assigns,
        send_now=(scope.get("extensions") or {}).get(SEND_TEXT_NOW),
        send_frame_now=(scope.get("extensions") or {}).get(SEND_FRAME_NOW))
    await send({"type": "websocket.accept"})
    try:
        await endpoint.register_transport(transport, ctx)
    except PondError as err:  # filled up between the check and now
        await send({"type": "websocket.close", "code": CLOSE_TRY_AGAIN_LATER,
                    "reason": close_reason(err.message)})
        return
    # This frame lives as long as the connection: keep no request (headers, cookies, query)
    # it no longer needs.
    del ctx, match, message
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
