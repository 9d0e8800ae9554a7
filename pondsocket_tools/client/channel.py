"""A joined channel: send, request, receive messages and presence, leave."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from .callbacks import Callbacks
from .errors import (
    ChannelClosedError,
    EvictedError,
    JoinTimeoutError,
    PondClientError,
)
from .presence_state import PresenceState
from .protocol import (
    ACKNOWLEDGE,
    BROADCAST,
    DESTROYED,
    ERROR,
    EVICTED,
    EXIT_ACKNOWLEDGE,
    HISTORY_EXTENSION,
    JOIN_CHANNEL,
    KICKED_OUT,
    LEAVE_CHANNEL,
    NOT_FOUND,
    PRESENCE,
    RECOVER_KEY,
    SYSTEM,
    UNAUTHORIZED,
    ChannelEvent,
    Message,
    PresenceEvent,
    RecoveryFailure,
    ServerFrame,
    encode_client_frame,
    error_details,
    join_declined,
    new_request_id,
)
from .streams import EventStream, Subscription

if TYPE_CHECKING:
    from .options import ClientOptions

MessageCallback = Callable[[Message], Any]
PresenceCallback = Callable[[PresenceEvent], Any]
CloseCallback = Callable[["Channel", PondClientError | None], Any]



class ChannelHost(Protocol):
    """What a :class:`Channel` needs from the client it belongs to (the client's side is
    :class:`~pondsocket_tools.client.client.ClientLink`)."""

    @property
    def options(self) -> ClientOptions: ...

    @property
    def is_connected(self) -> bool: ...

    @property
    def extensions(self) -> frozenset[str]:
        """The protocol extensions the server granted on the current connection."""
        ...

    def enqueue(self, chan: Channel, text: str, request_id: str, event: str) -> None:
        """Queue a ``BROADCAST`` frame of ``chan`` (sent once it is joined and connected)."""

    def send_control(self, action: str, channel: str, request_id: str,
                     payload: dict[str, Any] | None = None) -> None:
        """Send a join or leave now, if connected."""

    async def request(self, chan: Channel, event: str, payload: dict[str, Any] | None,
                      timeout: float) -> Message:
        """Send ``event`` and wait for the reply with the same request id."""
        ...

    def abandon_join(self, request_id: str, channel: str) -> None:
        """A join given up: leave at once if it is acknowledged later."""

    def channel_joined(self, chan: Channel) -> None:
        """``chan`` is joined: its queued frames may go."""

    def channel_ended(self, chan: Channel, reason: PondClientError | None) -> None:
        """``chan`` has ended: forget it and fail what waits on it."""

class ChannelState(StrEnum):
    """Where a channel is in its life.

    ``JOINING`` (join sent, or waiting for the connection) -> ``JOINED``; on a lost
    connection ``JOINED`` -> ``STALLED`` -> (reconnected) ``JOINING`` -> ``JOINED``;
    ``leave()`` -> ``LEAVING`` -> ``CLOSED``. Decline, eviction, timeout and a client that
    gives up also end in ``CLOSED``, with :attr:`Channel.closed_reason` saying why.
    """

    JOINING = "joining"
    JOINED = "joined"
    STALLED = "stalled"
    LEAVING = "leaving"
    CLOSED = "closed"


class Channel:
    """One channel of a :class:`~pondsocket_tools.client.PondClient` (get it from
    :meth:`PondClient.join`).

    Incoming messages are available as async iterators (:meth:`messages`,
    :meth:`presence_events`, :meth:`events`) and as callbacks (:meth:`on_message`,
    :meth:`on_presence`). :attr:`presence` is the live presence list.
    """

    def __init__(self, host: ChannelHost, name: str, params: dict[str, Any] | None, *,
                 join_timeout: float | None = None) -> None:
        self._host = host
        self._join_timeout = join_timeout or host.options.join_timeout
        self.name = name
        self.join_params: dict[str, Any] = dict(params or {})
        self.state = ChannelState.JOINING
        self.closed_reason: PondClientError | None = None
        self.joins = 0
        self._join_rid: str | None = None
        # Ids of joins superseded by a later one (their answers are ignored); a few suffice.
        self._stale_rids: deque[str] = deque(maxlen=16)
        self._leave_rid: str | None = None
        self._join_timer: asyncio.TimerHandle | None = None
        self._joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._left: asyncio.Future[None] | None = None
        self._closed = asyncio.Event()
        self._presence = PresenceState()
        self._stream: EventStream[ChannelEvent] = EventStream(
            f"channel {name}", host.options.buffer_size)
        self._on_message = Callbacks()
        self._on_presence = Callbacks()
        self._on_close = Callbacks()
        self._on_join = Callbacks()
        # History (docs/recovery.md): where this client is in the channel's stream; the
        # next join after a lost connection asks to recover from there.
        self.epoch: str | None = None
        self.offset: int | None = None
        #: Whether the last rejoin recovered what was missed (None: none asked to recover).
        self.recovered: bool | None = None
        self.recovery_failures = 0
        self._recovering = False
        self._on_recovery_failed = Callbacks()

    def __repr__(self) -> str:
        return f"<Channel {self.name} {self.state.value}>"

    # -- state ---------------------------------------------------------------------------

    @property
    def is_joined(self) -> bool:
        return self.state is ChannelState.JOINED

    @property
    def is_closed(self) -> bool:
        return self.state is ChannelState.CLOSED

    @property
    def presence(self) -> list[dict[str, Any]]:
        """The channel's presence list as last sent by the server (a copy).

        The server sends presence only to members it tracks, and only when it changes; it is
        cleared while the connection is down and refreshed by the next presence frame.
        """
        return [dict(entry) for entry in self._presence.entries]

    @property
    def member_count(self) -> int:
        """How many members the presence list has, without copying it."""
        return len(self._presence)

    @property
    def dropped(self) -> int:
        """Incoming items dropped because an iterator fell too far behind."""
        return self._stream.dropped

    async def wait_closed(self) -> PondClientError | None:
        """Wait until the channel has ended; returns why (``None`` after :meth:`leave`)."""
        await self._closed.wait()
        return self.closed_reason

    # -- sending -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state in (ChannelState.CLOSED, ChannelState.LEAVING):
            raise self.closed_reason or ChannelClosedError(self.name)

    async def send(self, event: str, payload: dict[str, Any] | None = None) -> str:
        """Send ``event`` to the channel; returns its request id.

        Returns once the message is queued: it is sent right away when joined and connected,
        otherwise as soon as the channel is joined (again). An error the server answers with
        arrives as an error :class:`Message` (``msg.is_error``) in :meth:`messages` and
        :meth:`on_message` callbacks. Raises ``QueueFullError`` when the queue is full.
        """
        self._check_open()
        request_id = new_request_id()
        text = encode_client_frame(BROADCAST, event, self.name, request_id, payload)
        self._host.enqueue(self, text, request_id, event)
        return request_id

    async def request(self, event: str, payload: dict[str, Any] | None = None, *,
                      timeout: float | None = None) -> Message:
        """Send ``event`` and wait for the server's reply (matched by request id).

        Returns the reply :class:`Message`. Raises ``ServerError`` (with the server's
        ``code`` and ``message``) when the server answers with an error,
        ``RequestTimeoutError`` after ``timeout`` seconds (default: the client's
        ``request_timeout``; a reply arriving later is discarded), ``ConnectionLostError``
        when the connection drops after the request was sent.
        """
        self._check_open()
        timeout = self._host.options.request_timeout if timeout is None else timeout
        return await self._host.request(self, event, payload, timeout)

    async def leave(self, timeout: float | None = None) -> None:
        """Leave the channel and wait (at most ``timeout``, default the client's
        ``leave_timeout``) for the server to confirm. Iterators end cleanly."""
        if self.state is ChannelState.CLOSED:
            return
        if self.state is ChannelState.LEAVING and self._left is not None:
            await asyncio.shield(self._left)
            return
        if self.state is not ChannelState.JOINED or not self._host.is_connected:
            if self._join_rid is not None:
                self._host.abandon_join(self._join_rid, self.name)
            self._end(None, ChannelClosedError(self.name, "left before the join completed"))
            return
        self.state = ChannelState.LEAVING
        self._left = asyncio.get_running_loop().create_future()
        self._leave_rid = new_request_id()
        self._host.send_control(LEAVE_CHANNEL, self.name, self._leave_rid)
        timeout = self._host.options.leave_timeout if timeout is None else timeout
        try:
            await asyncio.wait_for(asyncio.shield(self._left), timeout)
        except TimeoutError:
            pass  # servers that do not acknowledge leaves (TS)
        finally:
            self._end(None)

    # -- receiving -----------------------------------------------------------------------

    def messages(self, *events: str) -> Subscription[Message]:
        """An async iterator over incoming messages (only ``events`` if given).

        Includes error messages (``msg.is_error``) unless ``events`` are given. Ends when the
        channel ends: cleanly after :meth:`leave` or ``client.close()``, by raising the
        reason otherwise (``EvictedError``, ``JoinDeclinedError`` of a rejoin, the client's
        connection error). Messages that arrive while no iterator is open are kept (up to
        ``buffer_size``) for the next one.
        """
        wanted = frozenset(events)

        def accept(item: ChannelEvent) -> bool:
            return isinstance(item, Message) and (not wanted or item.event in wanted)

        return self._stream.subscribe(accept)  # type: ignore[return-value]

    def presence_events(self) -> Subscription[PresenceEvent]:
        """An async iterator over presence changes (``JOIN``/``UPDATE``/``LEAVE``)."""
        return self._stream.subscribe(  # type: ignore[return-value]
            lambda item: isinstance(item, PresenceEvent))

    def events(self) -> Subscription[ChannelEvent]:
        """An async iterator over messages and presence changes, in arrival order."""
        return self._stream.subscribe()

    def on_message(self, callback: MessageCallback, *events: str) -> Callable[[], None]:
        """Call ``callback(message)`` for each incoming message (only ``events`` if given);
        a coroutine function runs as a task. Returns a function that unsubscribes."""
        if not events:
            return self._on_message.add(callback)
        wanted = frozenset(events)

        def filtered(message: Message) -> Any:
            if message.event in wanted:
                return callback(message)
            return None

        return self._on_message.add(filtered)

    def on_presence(self, callback: PresenceCallback) -> Callable[[], None]:
        """Call ``callback(presence_event)`` for each presence change."""
        return self._on_presence.add(callback)

    def on_recovery_failed(self, callback: Callable[[RecoveryFailure], Any]
                           ) -> Callable[[], None]:
        """Call ``callback(failure)`` when a rejoin could not recover the messages missed
        while disconnected: the application should reload what it shows. Returns a function
        that removes the callback."""
        return self._on_recovery_failed.add(callback)

    def on_join(self, callback: Callable[[Channel], Any]) -> Callable[[], None]:
        """Call ``callback(channel)`` each time the server acknowledges a join of this
        channel: the first join (if registered in time) and every rejoin after a reconnect
        (``channel.joins`` counts them)."""
        return self._on_join.add(callback)

    def on_close(self, callback: CloseCallback) -> Callable[[], None]:
        """Call ``callback(channel, reason)`` when the channel ends (reason ``None`` after
        :meth:`leave` or ``client.close()``)."""
        return self._on_close.add(callback)

    # -- driven by the client ------------------------------------------------------------

    async def _wait_joined(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(self._joined), timeout)
        except TimeoutError:
            if not self._joined.done():
                if self._join_rid is not None:
                    self._host.abandon_join(self._join_rid, self.name)
                self._end(JoinTimeoutError(self.name, timeout))
            await self._joined  # raises the reason

    def _send_join(self) -> None:
        """Send (or re-send after a reconnect) the join; the connection is up."""
        if self._join_rid is not None:
            self._stale_rids.append(self._join_rid)
        self.state = ChannelState.JOINING
        self._join_rid = new_request_id()
        params = self.join_params
        self._recovering = (HISTORY_EXTENSION in self._host.extensions
                            and bool(self.epoch) and self.offset is not None)
        if self._recovering:
            params = {**params, RECOVER_KEY: {"epoch": self.epoch, "offset": self.offset}}
        self._host.send_control(JOIN_CHANNEL, self.name, self._join_rid, params)
        self._arm_join_timer()

    def _arm_join_timer(self) -> None:
        self._cancel_join_timer()
        timeout = self._join_timeout
        rid = self._join_rid

        def expired() -> None:
            if self.state is ChannelState.JOINING and self._join_rid == rid:
                if rid is not None:
                    self._host.abandon_join(rid, self.name)
                self._end(JoinTimeoutError(self.name, timeout))

        self._join_timer = asyncio.get_running_loop().call_later(timeout, expired)

    def _cancel_join_timer(self) -> None:
        if self._join_timer is not None:
            self._join_timer.cancel()
            self._join_timer = None

    def _connection_lost(self) -> None:
        self._cancel_join_timer()
        if self.state is ChannelState.LEAVING:
            self._end(None)  # the server dropped the membership with the connection
            return
        if self.state is ChannelState.JOINED:
            self.state = ChannelState.STALLED
        if self._join_rid is not None:
            self._stale_rids.append(self._join_rid)
            self._join_rid = None
        self._presence.clear()

    def _adopt_join(self) -> None:
        """A late acknowledgement of an abandoned join of this name arrived: we are in."""
        if self.state is ChannelState.JOINING:
            if self._join_rid is not None:  # its answer (a 409 "already joined") is moot
                self._stale_rids.append(self._join_rid)
            self._became_joined()

    def _handle(self, frame: ServerFrame) -> None:
        action, event = frame.action, frame.event
        if action == PRESENCE:
            self._presence_changed(frame)
            return
        rid = frame.request_id
        if self.state is ChannelState.JOINING and rid == self._join_rid and rid:
            if action == SYSTEM and event == ACKNOWLEDGE:
                failure = self._join_answered(frame.payload)
                self._became_joined()
                if failure is not None:
                    self._on_recovery_failed(failure)
                return
            if action == ERROR or (action == SYSTEM and event in (UNAUTHORIZED, NOT_FOUND)):
                self._end(join_declined(frame, self.name))
                return
        if action == SYSTEM:
            if event == ACKNOWLEDGE:
                return  # acknowledgement of an older join
            if event == EXIT_ACKNOWLEDGE:
                if self._left is not None and not self._left.done():
                    self._left.set_result(None)
                return
            if event in (UNAUTHORIZED, NOT_FOUND) and self.state is ChannelState.JOINING:
                self._end(join_declined(frame, self.name))
                return
            if event in (EVICTED, KICKED_OUT):
                payload = frame.payload
                reason = payload.get("reason") or payload.get("message") or "evicted"
                self._end(EvictedError(self.name, str(reason)))
                return
        if action == ERROR:
            if rid and rid in self._stale_rids:
                return  # the answer to a join that was superseded
            if event == DESTROYED:
                _, _, reason = error_details(frame.payload, event)
                self._end(ChannelClosedError(self.name, f"closed by the server: {reason}"))
                return
        if frame.offset is not None and action == BROADCAST:
            # The server replays each missed broadcast once, then live ones: no dedupe here
            # (a stream that restarted in a new epoch counts from 1 again).
            self.offset = frame.offset
        message = Message.from_frame(frame)
        self._stream.publish(message)
        self._on_message(message)

    def _join_answered(self, payload: dict[str, Any]) -> RecoveryFailure | None:
        """Take the stream position of a history join answer; the failure, if the recovery
        this join asked for did not happen."""
        epoch, offset = payload.get("epoch"), payload.get("offset")
        if not isinstance(epoch, str) or not isinstance(offset, int) or isinstance(offset,
                                                                                   bool):
            self.epoch = self.offset = None  # no history in this channel (or no extension)
            return None
        asked, self._recovering = self._recovering, False
        self.epoch, self.offset = epoch or None, offset
        if not asked:
            return None
        self.recovered = payload.get("recovered") is True
        if self.recovered:
            return None
        self.recovery_failures += 1
        return RecoveryFailure(self.name, str(payload.get("reason") or "not recovered"),
                               epoch, offset)

    def _became_joined(self) -> None:
        self._cancel_join_timer()
        self.state = ChannelState.JOINED
        self.joins += 1
        if not self._joined.done():
            self._joined.set_result(None)
        self._host.channel_joined(self)
        self._on_join(self)

    def _presence_changed(self, frame: ServerFrame) -> None:
        for event in self._presence.apply(frame):
            self._stream.publish(event)
            self._on_presence(event)

    def _end(self, reason: PondClientError | None,
             waiter_error: PondClientError | None = None) -> None:
        """End the channel: ``reason`` is what iterators raise (``None``: end cleanly)."""
        if self.state is ChannelState.CLOSED:
            return
        self._cancel_join_timer()
        self.state = ChannelState.CLOSED
        self.closed_reason = reason
        if not self._joined.done():
            error = reason or waiter_error or ChannelClosedError(self.name)
            self._joined.set_exception(error)
            self._joined.exception()  # retrieved: nobody may be waiting
        if self._left is not None and not self._left.done():
            self._left.set_result(None)
        self._host.channel_ended(self, reason)
        self._stream.close(reason)
        self._closed.set()
        self._on_close(self, reason)


class ChannelControl:
    """How the client drives one of its channels through the connection's life (the other
    half of :class:`ChannelHost`)."""

    __slots__ = ("channel",)

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send_join(self) -> None:
        """Send (or re-send after a reconnect) the join; the connection is up."""
        self.channel._send_join()

    async def wait_joined(self, timeout: float) -> None:
        await self.channel._wait_joined(timeout)

    def connection_lost(self) -> None:
        self.channel._connection_lost()

    def adopt_join(self) -> None:
        """A late acknowledgement of an abandoned join of this name arrived: joined."""
        self.channel._adopt_join()

    def handle(self, frame: ServerFrame) -> None:
        """A frame of this channel arrived."""
        self.channel._handle(frame)

    def end(self, reason: PondClientError | None,
            waiter_error: PondClientError | None = None) -> None:
        self.channel._end(reason, waiter_error)
