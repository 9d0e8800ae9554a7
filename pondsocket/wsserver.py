"""A direct ``websockets`` server for a :class:`~pondsocket.PondSocket`: the fastest path.

The ASGI adapter (:mod:`pondsocket.asgi`) is the canonical way to serve PondSocket; this one
skips ASGI for WebSocket-only deployments that want the last bit of fan-out speed and memory:
a frame is written to a connection at once while the connection's write buffer is below its
high-water mark - exactly what ``websockets.broadcast`` does - and goes through the bounded
queue and a writer task only when the peer is slow, so an idle connection has no task of its
own. Limits, overflow policy and send timeout are the same as everywhere (see
:class:`~pondsocket.Options`). SSE needs HTTP streaming: serve it with the ASGI adapter.

    import asyncio
    from pondsocket.wsserver import serve

    asyncio.run(serve(pond, "127.0.0.1", 8765))
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from .enums import TransportType
from .errors import PondError
from .extensions import requested_extensions
from .gcfreeze import GCFreezer
from .transport.base import CLOSE_TRY_AGAIN_LATER, BaseTransport, truncate_close_reason
from .types import Headers, IncomingConnection, parse_cookies
from .view import ServerView
from .wire import Frame, encode_json
from .wsframes import compress_once_extensions, encoding_for
from .wsrelease import release_websocket_protocol

if TYPE_CHECKING:  # an adapter drives the core through the objects it is given
    from .contexts.connection import ConnectionContext
    from .endpoint import Endpoint
    from .server import PondSocket

log = logging.getLogger("pondsocket.wsserver")

# Bytes a peer may have buffered before frames wait in the bounded per-connection queue.
WRITE_HIGH_WATER = 64 * 1024
# Closing handshakes under way (kept referenced until they finish).
_closing: set[asyncio.Task[None]] = set()
_OPEN = State.OPEN
#: The values of ``compression``: None (off, the default), "deflate" (``websockets``'
#: permessage-deflate with context takeover: every frame compressed again for each
#: recipient) and "compress-once" (no server context takeover: one compressed frame shared).
COMPRESSION_MODES = (None, "deflate", "compress-once")


class WebSocketsTransport(BaseTransport):
    """A transport over a ``websockets`` server connection with synchronous fast writes.

    A frame goes to the socket as finished WebSocket bytes shared by every connection that
    negotiated the same compression (:mod:`pondsocket.wsframes`); a connection whose
    compression keeps a context between messages has its frames compressed by ``websockets``.
    """

    __slots__ = ("_connection", "_peer", "_protocol", "encoding")

    kind = TransportType.WEBSOCKET
    sync_writes = True
    persistent_writer = False

    def __init__(self, id: str, connection: ServerConnection,
                 assigns: dict[str, Any] | None = None) -> None:
        super().__init__(id, assigns=assigns)
        self._connection = connection
        self._protocol = connection.protocol
        self._peer = connection.transport
        #: The shared encoding of this connection's frames (None: compressed for it alone).
        self.encoding = encoding_for(connection.protocol.extensions)

    def _write_now(self, frame: Frame) -> bool:
        peer = self._peer
        if peer.get_write_buffer_size() > WRITE_HIGH_WATER:
            return False
        encoding = self.encoding
        if encoding is None:
            broadcast((self._connection,), frame.data, text=True)
        elif self._protocol.state is _OPEN:  # closing: nothing more goes out, as broadcast()
            # The protocol has nothing pending between two of its own writes (it flushes
            # each at once), so a whole frame written here cannot split one of its frames.
            try:
                peer.write(encoding.frame_bytes(frame))
            except Exception as exc:  # the socket failed under us
                log.debug("write to %s failed: %r", self.id, exc)
                self.connection_lost()
        return True

    async def _write(self, frame: Frame) -> None:
        encoding = self.encoding
        if encoding is None or self._protocol.state is not _OPEN:
            # Raises ConnectionClosed once closing, which ends the writer.
            await self._connection.send(frame.data, text=True)
            return
        self._peer.write(encoding.frame_bytes(frame))
        await self._connection.drain()  # waits while the peer is slow

    async def _shutdown(self, code: int, reason: str) -> None:
        # Start the closing handshake without waiting for it: ``close()`` waits until the
        # peer has read everything before the close frame, which a stalled peer never does,
        # and the connection must leave its channels now (websockets ends it after
        # close_timeout, or when the peer answers).
        task = asyncio.ensure_future(self._connection.close(code, truncate_close_reason(reason)))
        _closing.add(task)
        task.add_done_callback(_closing.discard)


class PondServerConnection(ServerConnection):
    """``websockets``' server connection, freed by reference counting once closed: its
    protocol's parser generator (whose frame holds the protocol) is closed when the
    connection is lost (:mod:`pondsocket.wsrelease`), refused handshakes included."""

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        release_websocket_protocol(self.protocol)


class _Handshake:
    """What ``process_request`` decided for one connection, kept for the handler."""

    __slots__ = ("context", "endpoint")

    def __init__(self, endpoint: Endpoint, context: ConnectionContext) -> None:
        self.endpoint = endpoint
        self.context = context


def _incoming(connection: ServerConnection, request: Request, connection_id: str,
              params: dict[str, str]) -> IncomingConnection:
    headers = Headers(request.headers.raw_items())
    query: dict[str, str] = {}
    for key, value in parse_qsl(urlsplit(request.path).query, keep_blank_values=True):
        query.setdefault(key, value)
    host, port = (connection.remote_address or ("", 0))[:2]
    return IncomingConnection(id=connection_id, address=f"{host}:{port}", headers=headers,
                              cookies=parse_cookies(headers.get("cookie")), query=query,
                              params=dict(params), extensions=requested_extensions(query))


class PondWebSocketsServer:
    """Serves a :class:`~pondsocket.PondSocket` with the ``websockets`` library."""

    def __init__(self, pond: PondSocket, *, health_path: str | None = None) -> None:
        self.pond = pond
        #: A path answered with the health check instead of a handshake (None: none).
        self.health_path = health_path
        # Keyed weakly: ``websockets`` runs the handler only for connections that reach OPEN,
        # so an accepted handshake that never gets there (a plain GET answered 426, an upgrade
        # without a key, a client gone before the 101) must not outlive its connection.
        self._handshakes: weakref.WeakKeyDictionary[ServerConnection, _Handshake] = (
            weakref.WeakKeyDictionary())

    @property
    def pending_handshakes(self) -> int:
        """Accepted handshakes whose connection has not reached its handler (yet)."""
        return len(self._handshakes)

    async def process_request(self, connection: ServerConnection, request: Request
                              ) -> Response | None:
        """Authenticate before accepting: a declined handshake gets its HTTP status."""
        if self.health_path is not None and urlsplit(request.path).path == self.health_path:
            return self._health(connection)
        match = self.pond.match_endpoint(request.path)
        if match is None:
            return connection.respond(404, "PondSocket: no endpoint at this path")
        connection_id = str(uuid.uuid4())
        context = await match.endpoint.request_connection(
            _incoming(connection, request, connection_id, match.route.params),
            route=match.route)
        if not context.is_accepted:
            code, message = context.decline_info or (403, "Forbidden")
            return connection.respond(code, message)
        self._handshakes[connection] = _Handshake(match.endpoint, context)
        return None

    async def handler(self, connection: ServerConnection) -> None:
        """Serve one accepted connection until it closes."""
        handshake = self._handshakes.pop(connection)
        context = handshake.context
        transport = WebSocketsTransport(context.user_id, connection, context.assigns)
        try:
            await handshake.endpoint.register_transport(transport, context)
        except PondError as err:  # filled up between the handshake and now
            await connection.close(CLOSE_TRY_AGAIN_LATER, truncate_close_reason(err.message))
            return
        try:
            async for message in connection:
                await transport.feed(message)
                if transport.queue_depth * 2 >= transport.queue_limit:
                    await transport.drain()  # the peer is slow: stop reading its requests
        except ConnectionClosed:
            pass
        finally:
            if transport.is_active():
                transport.connection_lost()
            await transport.wait_closed()

    def _health(self, connection: ServerConnection) -> Response:
        """The same health check as the ASGI adapter's (:meth:`ServerView.health`)."""
        status, document = ServerView(self.pond).health()
        response = connection.respond(status, encode_json(document).decode())
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json"
        return response

    def listen(self, host: str, port: int, **kwargs: Any
               ) -> AbstractAsyncContextManager[Server]:
        """A ``websockets`` server for this app, to use as ``async with``. ``kwargs`` go to
        ``websockets.serve``; defaults: frames up to 4x ``max_message_size`` (larger ones
        within that get a 413 error frame), no compression. ``compression`` is one of
        :data:`COMPRESSION_MODES`; ``"compress-once"`` offers permessage-deflate with the
        :func:`compress_once_extensions` defaults (pass ``extensions`` for others).
        Connections are :class:`PondServerConnection` unless ``create_connection`` says
        otherwise (a subclass of it keeps closed connections out of reference cycles). The
        caller starts and closes the PondSocket (:func:`serve` does both)."""
        kwargs.setdefault("max_size", self.pond.options.max_message_size * 4)
        compression = kwargs.pop("compression", None)
        if compression not in COMPRESSION_MODES:
            raise ValueError(f"compression must be one of {COMPRESSION_MODES}, not "
                             f"{compression!r}")
        if compression == "compress-once":
            compression = None
            kwargs.setdefault("extensions", compress_once_extensions())
        kwargs.setdefault("create_connection", PondServerConnection)
        return websockets_serve(self.handler, host, port, process_request=self.process_request,
                                compression=compression, **kwargs)


async def serve(pond: PondSocket, host: str = "127.0.0.1", port: int = 8765, *,
                ready: asyncio.Future[Server] | None = None, health_path: str | None = None,
                gc_freeze: bool = False, **kwargs: Any) -> None:
    """Serve ``pond`` until cancelled, then close it. ``kwargs`` go to ``websockets.serve``
    (see :meth:`PondWebSocketsServer.listen` for the defaults). ``ready`` receives the
    running server (for the bound port when ``port`` is 0). ``health_path`` (e.g.
    ``"/healthz"``) answers plain GETs with the health check. ``gc_freeze`` runs a
    :class:`~pondsocket.gcfreeze.GCFreezer` while serving (short garbage-collector pauses
    with thousands of connections; it acts on the whole process)."""
    await pond.start()
    app = PondWebSocketsServer(pond, health_path=health_path)
    freezer = GCFreezer() if gc_freeze else None
    async with app.listen(host, port, **kwargs) as server:
        if ready is not None:
            ready.set_result(server)
        if freezer is not None:
            freezer.start()
        try:
            await asyncio.Future()
        finally:
            if freezer is not None:
                freezer.stop()
            await pond.close()


__all__ = ["COMPRESSION_MODES", "WRITE_HIGH_WATER", "PondServerConnection",
           "PondWebSocketsServer", "WebSocketsTransport", "compress_once_extensions", "serve"]
