"""A lobby: one channel pattern with its handlers, and the channels that match it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

from .channel import Channel, Member
from .contexts.event import EventContext
from .contexts.join import JoinContext
from .contexts.leave import LeaveContext
from .contexts.outgoing import OutgoingContext
from .enums import ErrorTypes, LeaveReason
from .errors import PondError, as_pond_error
from .extensions import HISTORY
from .middleware import MiddlewareFn, run_chain
from .options import Options
from .patterns import Pattern, compile_pattern
from .positions import pop_recovery_request
from .transport.base import BaseTransport, Transport
from .types import Event, MessageEvent, Route, User
from .wire import WireError

if TYPE_CHECKING:
    from .endpoint import Endpoint
    from .positions import ChannelHistory

log = logging.getLogger("pondsocket.lobby")

JoinHandler = Callable[[JoinContext], Awaitable[None]]
EventHandler = Callable[[EventContext], Awaitable[None]]
OutgoingHandler = Callable[[OutgoingContext], Awaitable[None]]
LeaveHandler = Callable[[LeaveContext], Awaitable[None]]
JoinMiddlewareFn = Callable[[JoinContext, Callable[[], Awaitable[None]]], Awaitable[None]]
EventMiddlewareFn = Callable[[EventContext, Callable[[], Awaitable[None]]], Awaitable[None]]
OutgoingMiddlewareFn = Callable[[OutgoingContext, Callable[[], Awaitable[None]]],
                                Awaitable[None]]
LeaveMiddlewareFn = Callable[[LeaveContext, Callable[[], Awaitable[None]]], Awaitable[None]]

_ROUTE_CACHE_LIMIT = 1024

# ERROR frame event names by status code, for errors raised by event handlers.
_ERROR_EVENTS = {403: ErrorTypes.UNAUTHORIZED_BROADCAST,
                 429: ErrorTypes.RATE_LIMITED, 500: ErrorTypes.INTERNAL_SERVER_ERROR}


def error_type_for(code: int) -> str:
    """The ``ERROR`` frame event name used for a handler error with status ``code``."""
    return _ERROR_EVENTS.get(code, ErrorTypes.CHANNEL_ERROR)


Handler = TypeVar("Handler")


class _Routes(Generic[Handler]):
    """Event-name patterns in registration order; the first match wins. Results are cached."""

    def __init__(self) -> None:
        self._entries: list[tuple[Pattern, Handler, tuple[MiddlewareFn, ...]]] = []
        self._cache: dict[str, tuple[Handler, tuple[MiddlewareFn, ...], Route] | None] = {}

    def add(self, pattern: str, handler: Handler,
            middlewares: tuple[MiddlewareFn, ...]) -> None:
        self._entries.append((compile_pattern(pattern), handler, middlewares))
        self._cache.clear()

    def __bool__(self) -> bool:
        return bool(self._entries)

    def find(self, event_name: str) -> tuple[Handler, tuple[MiddlewareFn, ...], Route] | None:
        if event_name in self._cache:
            return self._cache[event_name]
        found = None
        for pattern, handler, middlewares in self._entries:
            route = pattern.match(event_name)
            if route is not None:
                found = (handler, middlewares, route)
                break
        if len(self._cache) >= _ROUTE_CACHE_LIMIT:  # event names come from clients: bound it
            self._cache.clear()
        self._cache[event_name] = found
        return found


class Lobby:
    """All channels whose name matches one pattern, e.g. ``/chat/:room_id``."""

    def __init__(self, endpoint: Endpoint, path: str, handler: JoinHandler,
                 middlewares: tuple[JoinMiddlewareFn, ...] = ()) -> None:
        self.endpoint = endpoint
        self._path = path
        self.pattern = compile_pattern(path)
        self._join_handler = handler
        self._join_middlewares = middlewares
        self._events: _Routes[EventHandler] = _Routes()
        self._outgoing: _Routes[OutgoingHandler] = _Routes()
        self._leave: tuple[LeaveHandler, tuple[LeaveMiddlewareFn, ...]] | None = None
        self._channels: dict[str, Channel] = {}
        # Set by pondsocket.history.enable_history: offsets for broadcasts, recovery on join.
        self.history: ChannelHistory | None = None
        # Counters of channels that have closed (the admin API adds the live ones).
        self.closed_messages_received = 0
        self.closed_messages_broadcast = 0
        self.closed_frames_delivered = 0

    @property
    def path(self) -> str:
        return self._path

    @property
    def options(self) -> Options:
        return self.endpoint.options

    # -- registration --------------------------------------------------------------------

    def on_message(self, event_pattern: str, handler: EventHandler,
                   *middlewares: EventMiddlewareFn) -> None:
        """Handle client events whose name matches ``event_pattern`` (first match wins)."""
        self._events.add(event_pattern, handler, middlewares)

    def on_leave(self, handler: LeaveHandler, *middlewares: LeaveMiddlewareFn) -> None:
        """Run ``handler`` after a user has left one of this lobby's channels."""
        self._leave = (handler, middlewares)

    def on_outgoing(self, event_pattern: str, handler: OutgoingHandler,
                    *middlewares: OutgoingMiddlewareFn) -> None:
        """Transform or block, per recipient, outgoing events matching ``event_pattern``."""
        self._outgoing.add(event_pattern, handler, middlewares)

    # -- channels ------------------------------------------------------------------------

    async def has_channel(self, name: str) -> bool:
        return name in self._channels

    async def get_channel(self, name: str) -> Channel | None:
        return self._channels.get(name)

    async def get_or_create_channel(self, name: str) -> Channel:
        return self._channel_for(name, self.pattern.match(name) or Route())

    async def list_channels(self) -> list[Channel]:
        return list(self._channels.values())

    @property
    def channels(self) -> dict[str, Channel]:
        """Live channels by name (read-only use)."""
        return self._channels

    def _channel_for(self, name: str, route: Route) -> Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = Channel(name, self, route)
            self.endpoint.pond.listeners.channel_opened(channel)
        return channel

    # -- the channel host interface (called by this lobby's channels) ---------------------

    def channel_closed(self, channel: Channel) -> None:
        """``channel`` has closed: it is forgotten and its counters are kept."""
        if self._channels.get(channel.name) is channel:
            del self._channels[channel.name]
            self.closed_messages_received += channel.messages_received
            self.closed_messages_broadcast += channel.messages_broadcast
            self.closed_frames_delivered += channel.frames_delivered

    def member_added(self, channel: Channel, member: Member) -> None:
        self.endpoint.membership_added(member.user_id, channel)

    def member_removed(self, channel: Channel, member: Member) -> None:
        self.endpoint.membership_removed(member.user_id, channel)

    def outgoing_route(self, event_name: str
                       ) -> tuple[OutgoingHandler, tuple[MiddlewareFn, ...], Route] | None:
        """The ``on_outgoing`` handler for ``event_name``, or None (then a broadcast is
        encoded once for everyone)."""
        if not self._outgoing:
            return None
        return self._outgoing.find(event_name)

    async def run_leave_handler(self, channel: Channel, user: User, reason: str) -> None:
        """Run the ``on_leave`` handler for a user who left ``channel``."""
        if self._leave is None:
            return
        handler, middlewares = self._leave
        ctx = LeaveContext(channel=channel, user=user, reason=str(LeaveReason(reason)),
                           route=channel.route)
        try:
            await run_chain(middlewares, ctx, handler)
        except Exception:
            log.exception("leave handler of %s failed", channel.name)

    async def close(self) -> None:
        """Close every channel of this lobby."""
        for channel in list(self._channels.values()):
            await channel.close()

    # -- join ----------------------------------------------------------------------------

    async def join(self, transport: Transport, event: Event, route: Route) -> None:
        """Run the join handler for ``event`` (called by the endpoint) and answer:
        ACKNOWLEDGE or UNAUTHORIZED."""
        since = None
        if HISTORY in getattr(transport, "extensions", ()):
            # pond_recover never reaches the join handler's parameters.
            try:
                since = pop_recovery_request(event.payload)
            except WireError as exc:
                self._send_error(transport, ErrorTypes.INVALID_MESSAGE, 400, str(exc), event)
                return
        channel = self._channel_for(event.channel_name, route)
        ctx = JoinContext(channel=channel, event=event, transport=transport, route=route,
                          recover_from=since)
        hooks = self.endpoint.hooks
        channel.join_started()
        cluster = self.endpoint.pond.cluster
        try:
            if cluster is not None:  # the first local join waits for the subscription
                await cluster.join_ready(channel)
            if hooks is not None and hooks.before_join is not None:
                await hooks.before_join(User(transport.get_id(), transport.clone_assigns()),
                                        channel.name)
            started = time.perf_counter()
            try:
                await run_chain(self._join_middlewares, ctx, self._join_handler)
            finally:
                self.endpoint.metrics.handler_duration(f"join:{self._path}",
                                                        time.perf_counter() - started)
            if not ctx.has_responded:
                await ctx.decline(500, "Join handler did not accept or decline the request")
        except Exception as exc:
            err = as_pond_error(exc)
            if not isinstance(exc, PondError):
                log.exception("join handler for %s failed", event.channel_name)
                self.endpoint.metrics.error("join_handler", exc)
            if not ctx.has_responded:
                await ctx.decline(err.code, err.message)
            else:  # accepted, then failed (a presence too large, say): never silent
                self._send_error(transport, error_type_for(err.code), err.code, err.message,
                                 event, err)
        finally:
            channel.join_finished()
        user_id = transport.get_id()
        if ctx.is_accepted and not self.endpoint.serves(transport):
            # The connection closed while the handler ran: nobody else will remove it.
            member = channel.members.get(user_id)
            if member is not None and member.transport is transport:
                await channel.remove_user(user_id, LeaveReason.CONNECTION_CLOSED)
        elif ctx.is_accepted and hooks is not None and hooks.after_join is not None:
            try:
                await hooks.after_join(await channel.get_user(user_id), channel.name)
            except Exception:
                log.exception("after_join hook failed")
        if channel.is_idle:
            await channel.close()

    # -- events --------------------------------------------------------------------------

    async def handle_event(self, channel: Channel, member: Member, event: Event) -> None:
        """Dispatch a client event from ``member`` of ``channel`` (called by the channel);
        every failure is answered with an ERROR frame."""
        found = self._events.find(event.event)
        transport = member.transport
        if found is None:
            self.endpoint.pond.listeners.handler_failed(channel, member.user_id, event.event,
                                                        404, "handler not found")
            self._send_error(transport, ErrorTypes.HANDLER_NOT_FOUND, 404,
                             f"No handler for event {event.event!r} on {channel.name}", event)
            return
        handler, middlewares, route = found
        ctx = EventContext(channel=channel, message=MessageEvent(event, channel.user_of(member)),
                           route=route)
        hooks = self.endpoint.hooks
        error: BaseException | None = None
        started = time.perf_counter()
        try:
            if hooks is not None and hooks.before_message is not None:
                await hooks.before_message(event)
            await run_chain(middlewares, ctx, handler)
        except Exception as exc:
            error = exc
            err = as_pond_error(exc)
            if not isinstance(exc, PondError):
                log.exception("handler for %r on %s failed", event.event, channel.name)
                self.endpoint.metrics.error("event_handler", exc)
            self.endpoint.pond.listeners.handler_failed(channel, member.user_id, event.event,
                                                        err.code, err.message)
            self._send_error(transport, error_type_for(err.code), err.code, err.message, event,
                             err)
        finally:
            self.endpoint.metrics.handler_duration(f"{self._path}:{event.event}",
                                                    time.perf_counter() - started)
        if hooks is not None and hooks.after_message is not None:
            try:
                await hooks.after_message(event, error)
            except Exception:
                log.exception("after_message hook failed")

    @staticmethod
    def _send_error(transport: Transport, error_type: str, code: int, message: str,
                    event: Event, err: PondError | None = None) -> None:
        if isinstance(transport, BaseTransport):
            extra = None
            if err is not None:
                extra = {k: v for k, v in err.to_payload().items() if k not in ("code",
                                                                                  "message")}
            transport.send_error(error_type, code, message, request_id=event.request_id,
                                 channel_name=event.channel_name, extra=extra or None)

    def __repr__(self) -> str:
        return f"<Lobby {self._path} channels={len(self._channels)}>"


__all__ = ["Lobby", "error_type_for"]
