"""An endpoint: one URL path, its connection handler, its connections and lobbies."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .channel import Channel
from .contexts.connection import ConnectionContext, fail_closed
from .enums import ClientActions, ErrorTypes, LeaveReason, ServerActions, SystemEntity, SystemEvents
from .errors import PondError, as_pond_error
from .extensions import grant
from .hooks import Hooks, MetricsCollector
from .lobby import JoinHandler, JoinMiddlewareFn, Lobby, error_type_for
from .middleware import run_chain
from .options import Options
from .patterns import channel_name_problem, compile_pattern
from .transport.base import BaseTransport, Transport, deliver
from .transport.foreign import ProtocolTransport
from .typed import PondSchema, TypedJoinContext, TypedJoinHandler, TypedLobby
from .types import Event, IncomingConnection, Route
from .wire import Frame, encode_frame, join_refusal, new_request_id

if TYPE_CHECKING:
    from .server import PondSocket

log = logging.getLogger("pondsocket.endpoint")

ConnectionHandler = Callable[[ConnectionContext], Awaitable[None]]
ConnectionMiddlewareFn = Callable[[ConnectionContext, Callable[[], Awaitable[None]]],
                                  Awaitable[None]]


class Connection:
    """A registered connection and the channels it is in."""

    __slots__ = ("address", "channels", "connected_at", "opened_at", "pending_joins",
                 "transport")

    def __init__(self, transport: BaseTransport, address: str = "") -> None:
        self.transport = transport
        #: The peer's ``host:port`` as the adapter saw it ("" when it gave none).
        self.address = address
        self.channels: dict[str, Channel] = {}
        #: Channels whose join is under way (None when there is none: no set per connection).
        self.pending_joins: set[str] | None = None
        self.opened_at = time.monotonic()
        self.connected_at = time.time()  # wall clock: comparable across nodes


class Endpoint:
    """Accepts connections on one path and routes their frames to lobbies."""

    def __init__(self, pond: PondSocket, path: str, handler: ConnectionHandler,
                 middlewares: tuple[ConnectionMiddlewareFn, ...] = ()) -> None:
        self.pond = pond
        self._path = path
        self.pattern = compile_pattern(path)
        self._handler = handler
        self._middlewares = list(middlewares)
        self._lobbies: list[Lobby] = []
        self._connections: dict[str, Connection] = {}
        self._closed = False
        #: Connections accepted and closed since start (read by the admin API).
        self.connections_opened = 0
        self.connections_closed = 0

    @property
    def path(self) -> str:
        return self._path

    @property
    def options(self) -> Options:
        return self.pond.options

    @property
    def hooks(self) -> Hooks | None:
        return self.pond.options.hooks

    @property
    def metrics(self) -> MetricsCollector:
        """The server's metrics collector."""
        return self.pond.metrics

    @property
    def lobbies(self) -> list[Lobby]:
        return list(self._lobbies)

    @property
    def connections(self) -> dict[str, Connection]:
        """Registered connections by user id (read-only use)."""
        return self._connections

    # -- registration --------------------------------------------------------------------

    def use(self, *middlewares: ConnectionMiddlewareFn) -> None:
        """Add connection middlewares, run before the connection handler."""
        self._middlewares.extend(middlewares)

    def create_channel(self, pattern: str, handler: JoinHandler,
                       *middlewares: JoinMiddlewareFn) -> Lobby:
        """Register a channel pattern; ``handler`` decides every join of a matching channel."""
        if any(lobby.path == pattern for lobby in self._lobbies):
            raise ValueError(f"channel pattern {pattern!r} is already registered on "
                             f"{self._path}")
        lobby = Lobby(self, pattern, handler, middlewares)
        self._lobbies.append(lobby)
        return lobby

    def create_typed_channel(self, schema: PondSchema[Any, Any, Any], pattern: str,
                             handler: TypedJoinHandler[Any, Any, Any]) -> TypedLobby[Any, Any]:
        """Like :meth:`create_channel`, with typed contexts (see :mod:`pondsocket.typed`)."""
        async def join(ctx: Any) -> None:
            await handler(TypedJoinContext(ctx, schema))

        return TypedLobby(self.create_channel(pattern, join), schema)

    def match_lobby(self, channel_name: str) -> tuple[Lobby, Route] | None:
        """The first lobby whose pattern matches ``channel_name``, with the match."""
        for lobby in self._lobbies:
            route = lobby.pattern.match(channel_name)
            if route is not None:
                return lobby, route
        return None

    # -- connections ---------------------------------------------------------------------

    def at_capacity(self) -> bool:
        limit = self.options.max_connections
        return bool(limit) and len(self._connections) >= limit

    async def request_connection(self, incoming: IncomingConnection, *,
                                 user_id: str | None = None,
                                 route: Route | None = None) -> ConnectionContext:
        """Run the middlewares and connection handler; the returned context holds the decision.

        Declines with 503 without running the handler when the endpoint is full. A handler that
        raises a :class:`PondError` declines with its code; any other exception, or no decision
        at all, declines with 500.
        """
        ctx = ConnectionContext(user_id=user_id or incoming.id, request=incoming,
                                route=route or Route())
        if self._closed:
            ctx.decline(503, "Endpoint is closed")
            return ctx
        if self.at_capacity():
            ctx.decline(503, "Too many connections")
            return ctx
        try:
            await run_chain(self._middlewares, ctx, self._handler)
        except Exception as exc:
            err = as_pond_error(exc)
            if not isinstance(exc, PondError):
                log.exception("connection handler of %s failed", self._path)
                self.metrics.connection_error(ctx.user_id, exc)
            fail_closed(ctx, err.code, err.message)
        if not (ctx.is_accepted or ctx.is_declined):
            ctx.decline(500, "Connection handler did not accept or decline the connection")
        return ctx

    async def register_transport(self, transport: Transport,
                                 context: ConnectionContext | None = None, *,
                                 connection_id: str | None = None) -> None:
        """Start serving an accepted connection: CONNECT frame, then its frames are handled.

        ``context`` (from :meth:`request_connection`) supplies a pending ``reply``.
        ``connection_id`` is what the CONNECT frame announces as ``connectionId`` (default:
        the user id; the SSE adapter passes the connection's secret token). Raises
        ``PondError`` 503 when the endpoint is full and 409 when the id is taken. A transport
        that implements only the :class:`Transport` protocol is wrapped in a
        :class:`~pondsocket.transport.ProtocolTransport` (the wrapper is what
        :meth:`get_transport` returns). The protocol extensions the client asked for (in
        ``context``, else on the transport) that this server implements are granted and set
        on ``transport.extensions``; a client that asked finds them in its CONNECT frame.
        """
        if not isinstance(transport, BaseTransport):
            transport = ProtocolTransport(transport)
        user_id = transport.get_id()
        if self._closed:
            raise PondError("Endpoint is closed", 503, temporary=True)
        if self.at_capacity():
            raise PondError("Too many connections", 503, temporary=True)
        if user_id in self._connections:
            raise PondError(f"Connection {user_id} is already registered", 409)
        transport.configure(self.options)
        self.pond.instrument(transport)
        if context is not None:
            for key, value in context.assigns.items():
                transport.set_assign(key, value)
        self._connections[user_id] = Connection(
            transport, context.request.address if context is not None else "")
        transport.on_message(self._on_message)
        transport.on_close(self._on_transport_closed)
        requested = context.request.extensions if context is not None else transport.extensions
        transport.extensions = grant(requested)
        connect: dict[str, object] = {"id": user_id, "connectionId": connection_id or user_id}
        if requested:  # only a client that asked learns what it got: upstream ones see upstream
            connect["extensions"] = sorted(transport.extensions)
        self._send(transport, encode_frame(ServerActions.CONNECT, SystemEvents.CONNECTION,
                                           SystemEntity.GATEWAY, new_request_id(), connect))
        if context is not None and context.pending_reply is not None:
            event_name, payload = context.pending_reply
            self._send(transport, encode_frame(ServerActions.SYSTEM, event_name,
                                               SystemEntity.GATEWAY, new_request_id(),
                                               payload))
        self.connections_opened += 1
        self.pond.listeners.connection_opened(self._path, user_id)
        hooks = self.hooks
        if hooks is not None and hooks.on_connect is not None:
            try:
                await hooks.on_connect(transport)
            except Exception:
                log.exception("on_connect hook failed")

    @staticmethod
    def _send(transport: Transport, frame: Frame) -> None:
        deliver(transport, frame)

    async def close_connection(self, user_id: str) -> None:
        """Close one connection (its channels see it leave)."""
        connection = self._connections.get(user_id)
        if connection is not None:
            await connection.transport.close()

    async def get_transport(self, user_id: str) -> Transport | None:
        connection = self._connections.get(user_id)
        return connection.transport if connection is not None else None

    async def connection_count(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        """Stop accepting connections, close every connection (1001), then the channels.

        Connections go first so that a restart looks like one to clients: they reconnect and
        rejoin, while an ``EVICTED`` frame would end their channels for good. Members leave
        with reason ``connection_closed``.
        """
        self._closed = True
        await asyncio.gather(*(connection.transport.close(1001, "server shutting down")
                               for connection in list(self._connections.values())))
        for lobby in self._lobbies:
            await lobby.close()

    async def _on_transport_closed(self, transport: Transport) -> None:
        user_id = transport.get_id()
        connection = self._connections.pop(user_id, None)
        if connection is None:
            return
        for channel in list(connection.channels.values()):
            await channel.remove_user(user_id, LeaveReason.CONNECTION_CLOSED)
        self.connections_closed += 1
        self.pond.listeners.connection_closed(self._path, user_id,
                                              time.monotonic() - connection.opened_at)
        hooks = self.hooks
        if hooks is not None and hooks.on_disconnect is not None:
            try:
                await hooks.on_disconnect(transport)
            except Exception:
                log.exception("on_disconnect hook failed")

    def serves(self, transport: Transport) -> bool:
        """True while ``transport`` is a registered connection of this endpoint."""
        connection = self._connections.get(transport.get_id())
        return connection is not None and connection.transport is transport

    # -- the lobby host interface (called by the lobbies' channels) -----------------------

    def membership_added(self, user_id: str, channel: Channel) -> None:
        """``user_id`` joined ``channel``: its connection is now in it."""
        connection = self._connections.get(user_id)
        if connection is not None:
            connection.channels[channel.name] = channel

    def membership_removed(self, user_id: str, channel: Channel) -> None:
        connection = self._connections.get(user_id)
        if connection is not None and connection.channels.get(channel.name) is channel:
            del connection.channels[channel.name]

    # -- inbound frames ------------------------------------------------------------------

    async def _on_message(self, event: Event, transport: Transport) -> None:
        connection = self._connections.get(transport.get_id())
        if connection is None:
            return
        try:
            await self._dispatch(connection, event)
        except Exception as exc:  # a hook or collector outside any handler failed
            err = as_pond_error(exc)
            if not isinstance(exc, PondError):
                log.exception("handling %s from %s failed", event.action, transport.get_id())
                self.metrics.error("dispatch", exc)
            self._error(transport, error_type_for(err.code), err.code, err.message, event)

    async def _dispatch(self, connection: Connection, event: Event) -> None:
        transport = connection.transport
        hooks = self.hooks
        limiter = hooks.rate_limiter if hooks is not None else None
        if limiter is not None and not await limiter.allow(transport.get_id()):
            if event.action == ClientActions.JOIN_CHANNEL:
                self._refuse_join(transport, event, 429, "Rate limit exceeded")
            else:
                self._error(transport, ErrorTypes.RATE_LIMITED, 429, "Rate limit exceeded",
                            event, temporary=True)
            return
        action = event.action
        if action == ClientActions.BROADCAST:
            await self._broadcast(connection, event)
        elif action == ClientActions.JOIN_CHANNEL:
            await self._join(connection, event)
        else:
            await self._leave(connection, event)

    async def _join(self, connection: Connection, event: Event) -> None:
        name = event.channel_name
        transport = connection.transport
        pending = connection.pending_joins
        if name in connection.channels or (pending is not None and name in pending):
            self._error(transport, ErrorTypes.CHANNEL_ERROR, 409, f"Already joined {name}", event)
            return
        options = self.options
        problem = channel_name_problem(name, options.max_channel_name_length)
        if problem is not None:
            self._refuse_join(transport, event, 400, problem)
            return
        limit = options.max_channels_per_connection
        if limit and len(connection.channels) + len(pending or ()) >= limit:
            self._refuse_join(transport, event, 429, f"Too many channels: a connection may be "
                              f"in at most {limit} (max_channels_per_connection)")
            return
        found = self.match_lobby(name)
        if found is None:
            self._refuse_join(transport, event, 404, f"No channel matches {name}")
            return
        lobby, route = found
        if pending is None:
            pending = connection.pending_joins = set()
        pending.add(name)
        try:
            await lobby.join(transport, event, route)
        finally:
            pending.discard(name)
            if not pending and connection.pending_joins is pending:
                connection.pending_joins = None

    def _refuse_join(self, transport: Transport, event: Event, code: int, message: str) -> None:
        self._send(transport, join_refusal(event.channel_name, event.request_id, code, message))

    async def _leave(self, connection: Connection, event: Event) -> None:
        name = event.channel_name
        channel = connection.channels.get(name)
        if channel is None:
            self._error(connection.transport, ErrorTypes.CHANNEL_ERROR, 404,
                        f"Not a member of {name}", event)
            return
        await channel.remove_user(connection.transport.get_id(), LeaveReason.EXPLICIT_LEAVE)
        self._send(connection.transport, encode_frame(
            ServerActions.SYSTEM, SystemEvents.EXIT_ACKNOWLEDGE, name, event.request_id, {}))

    async def _broadcast(self, connection: Connection, event: Event) -> None:
        channel = connection.channels.get(event.channel_name)
        transport = connection.transport
        if channel is None:
            self._error(transport, ErrorTypes.UNAUTHORIZED_BROADCAST, 403,
                        f"Not a member of {event.channel_name}", event)
            return
        hooks = self.hooks
        if hooks is not None and hooks.channel_rate_limiter is not None:
            key = f"{channel.name}:{transport.get_id()}"
            if not await hooks.channel_rate_limiter.allow(key):
                self._error(transport, ErrorTypes.RATE_LIMITED, 429,
                            f"Rate limit exceeded on {channel.name}", event, temporary=True)
                return
        await channel.handle_incoming_event(event, transport.get_id())

    @staticmethod
    def _error(transport: Transport, error_type: str, code: int, message: str, event: Event,
               *, temporary: bool = False) -> None:
        if isinstance(transport, BaseTransport):
            transport.send_error(error_type, code, message, request_id=event.request_id,
                                 channel_name=event.channel_name,
                                 extra={"temporary": True} if temporary else None)

    def __repr__(self) -> str:
        return f"<Endpoint {self._path} connections={len(self._connections)}>"


__all__ = ["Connection", "ConnectionHandler", "ConnectionMiddlewareFn", "Endpoint"]
