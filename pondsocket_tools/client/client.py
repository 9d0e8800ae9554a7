"""The client: one connection (WebSocket or SSE) to a PondSocket endpoint, its channels,
reconnecting, the outbound queue and request/reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .callbacks import Callbacks
from .channel import Channel, ChannelControl, ChannelState
from .errors import (
    ChannelClosedError,
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    HandshakeRejectedError,
    PondClientError,
    ProtocolError,
    QueueFullError,
    RequestTimeoutError,
    ServerError,
)
from .options import ClientOptions
from .outbound import Outbound, OutboundQueue
from .protocol import (
    ACKNOWLEDGE,
    BROADCAST,
    CONNECT,
    ERROR,
    EXTENSIONS_PARAM,
    GATEWAY_CHANNELS,
    LEAVE_CHANNEL,
    NOT_FOUND,
    SYSTEM,
    UNAUTHORIZED,
    Message,
    ServerFrame,
    encode_client_frame,
    new_request_id,
    parse_server_frames,
    server_error,
)
from .transport import SendRejectedError, Transport, TransportName, build_url, redact
from .transport_sse import SSETransport
from .transport_ws import WebSocketTransport

log = logging.getLogger("pondsocket_tools.client")

_EXPIRED_LIMIT = 4096


class ConnectionState(StrEnum):
    """``DISCONNECTED`` -> ``CONNECTING`` -> ``CONNECTED`` (only once the server's
    ``CONNECT`` frame has arrived); ``CLOSED`` after :meth:`PondClient.close` or when the
    client gave up (see :attr:`PondClient.error`)."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class StateChange:
    """Passed to :meth:`PondClient.on_state_change` callbacks.

    ``error`` is why the connection is down (or why the client gave up), ``attempt`` the
    number of failed attempts in a row, ``retry_in`` the delay before the next attempt.
    """

    state: ConnectionState
    previous: ConnectionState
    error: PondClientError | None = None
    attempt: int = 0
    retry_in: float | None = None


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future[Message]
    channel: Channel
    outbound: Outbound


class PondClient:
    """An asyncio client for a PondSocket endpoint.

    ::

        async with PondClient("ws://127.0.0.1:8765/api/socket",
                              params={"token": "demo"}) as client:
            chat = await client.join("/chat/1", {"name": "ada"})
            await chat.send("message", {"text": "hi"})
            reply = await chat.request("ping", {})
            async for msg in chat.messages():
                print(msg.event, msg.payload)

    ``url`` may be ``ws(s)://`` or ``http(s)://``; ``params`` are added to its query string
    (that is where PondSocket servers read credentials). ``transport`` is ``"websocket"``
    (default) or ``"sse"`` (Server-Sent Events down, HTTP POST up: same API). Options can
    be passed as a :class:`ClientOptions` or as keyword arguments.
    """

    def __init__(self, url: str, params: Mapping[str, Any] | None = None, *,
                 transport: TransportName = "websocket", options: ClientOptions | None = None,
                 **option_overrides: Any) -> None:
        if options is None:
            options = ClientOptions(**option_overrides)
        elif option_overrides:
            raise TypeError("pass either options= or option keyword arguments, not both")
        self.options = options
        self.transport_name: TransportName = transport
        if options.extensions:
            params = {**(params or {}), EXTENSIONS_PARAM: ",".join(options.extensions)}
        self.url = build_url(url, params, transport)
        self.state = ConnectionState.DISCONNECTED
        self._notified_state = ConnectionState.DISCONNECTED
        self.error: PondClientError | None = None
        self.last_error: PondClientError | None = None
        self.connection_id: str | None = None
        self.user_id: str | None = None
        #: The protocol extensions the server granted on the current connection.
        self.extensions: frozenset[str] = frozenset()
        self.connects = 0
        self._channels: dict[str, ChannelControl] = {}
        self._link = ClientLink(self)
        self._queue = OutboundQueue(options.queue_size, options.queue_overflow)
        self._requests: dict[str, _Pending] = {}
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._abandoned: OrderedDict[str, str] = OrderedDict()
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._state_event = asyncio.Event()
        self._backoff = options.backoff()
        self._on_state = Callbacks()
        self._on_message = Callbacks()
        self._on_error = Callbacks()

    def __repr__(self) -> str:
        return f"<PondClient {redact(self.url)} {self.state.value}>"

    # -- connection ----------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        return self.state is ConnectionState.CONNECTED

    @property
    def channels(self) -> dict[str, Channel]:
        """The channels that have not ended, by name."""
        return {name: control.channel for name, control in self._channels.items()}

    @property
    def queued(self) -> int:
        """Messages waiting in the outbound queue."""
        return len(self._queue)

    async def connect(self, timeout: float | None = None) -> None:
        """Connect and wait until the server's ``CONNECT`` frame arrived.

        Raises :class:`HandshakeRejectedError` when the server refuses (e.g. HTTP 401) and
        :class:`ConnectError` when it cannot be reached (unless ``retry_initial_connect``,
        which keeps trying with backoff). Calling it again while connected does nothing.
        """
        if self.state is ConnectionState.CLOSED:
            raise self.error or ClientClosedError("the client is closed; create a new one")
        self._start()
        await self.wait_connected(timeout)

    def _start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"pondclient {redact(self.url)}")

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until connected; raises the reason if the client gives up or is closed."""
        async with asyncio.timeout(timeout):
            while True:
                if self.state is ConnectionState.CONNECTED:
                    return
                if self.state is ConnectionState.CLOSED:
                    raise self.error or ClientClosedError("the client is closed")
                self._state_event.clear()
                await self._state_event.wait()

    async def close(self) -> None:
        """Send what is queued (at most ``close_timeout`` seconds), then disconnect.

        Channels end cleanly (their iterators stop), pending joins and requests fail with
        :class:`ClientClosedError`. Idempotent.
        """
        if self.state is ConnectionState.CLOSED and self._runner is None:
            return
        if self.is_connected and self._queue.ready:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.drained.wait(), self.options.close_timeout)
        self._closing = True
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        self._shutdown(None, ClientClosedError("the client was closed"))

    async def __aenter__(self) -> PondClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def on_state_change(self, callback: Callable[[StateChange], Any]) -> Callable[[], None]:
        """Call ``callback(change)`` on every connection state change."""
        return self._on_state.add(callback)

    def on_message(self, callback: Callable[[Message], Any]) -> Callable[[], None]:
        """Call ``callback(message)`` for frames that belong to no joined channel (e.g. a
        connection handler's reply sent right after ``CONNECT``)."""
        return self._on_message.add(callback)

    def on_error(self, callback: Callable[[PondClientError], Any]) -> Callable[[], None]:
        """Call ``callback(error)`` for errors no caller is waiting for: error frames that
        belong to no channel, malformed frames from the server."""
        return self._on_error.add(callback)

    # -- channels ------------------------------------------------------------------------

    async def join(self, channel: str, params: Mapping[str, Any] | None = None, *,
                   timeout: float | None = None) -> Channel:
        """Join ``channel`` with join ``params``; returns the joined :class:`Channel`.

        Connects first if needed. Raises :class:`JoinDeclinedError` (the server's ``code``
        and ``message``) when declined, :class:`JoinTimeoutError` when unanswered within
        ``timeout`` (default ``join_timeout``), or the connection error. Joining a channel
        that is already joined (or joining) returns the same :class:`Channel`.
        """
        if self.state is ConnectionState.CLOSED:
            raise self.error or ClientClosedError("the client is closed")
        if not channel:
            raise ValueError("channel name must not be empty")
        timeout = self.options.join_timeout if timeout is None else timeout
        existing = self._channels.get(channel)
        if existing is not None and not existing.channel.is_closed:
            await existing.wait_joined(timeout)
            return existing.channel
        control = ChannelControl(Channel(self._link, channel, dict(params or {}),
                                         join_timeout=timeout))
        self._channels[channel] = control
        self._start()
        if self.is_connected:
            control.send_join()
        await control.wait_joined(timeout)
        return control.channel

    def channel(self, name: str) -> Channel | None:
        """The channel ``name`` if it has not ended."""
        control = self._channels.get(name)
        return control.channel if control is not None else None

    # -- internals: the connection loop --------------------------------------------------

    def _new_transport(self) -> Transport:
        if self.transport_name == "sse":
            return SSETransport(self.url, self.options)
        return WebSocketTransport(self.url, self.options)

    def _set_state(self, state: ConnectionState, *, error: PondClientError | None = None,
                   attempt: int = 0, retry_in: float | None = None,
                   notify: bool = True) -> None:
        self.state = state
        self._state_event.set()
        if not notify:
            return
        previous, self._notified_state = self._notified_state, state
        if previous is state and state is not ConnectionState.DISCONNECTED:
            return
        self._on_state(StateChange(state, previous, error, attempt, retry_in))

    async def _run(self) -> None:
        failures = 0
        ever_connected = False
        while True:
            self._set_state(ConnectionState.CONNECTING)
            transport = self._new_transport()
            error: PondClientError
            try:
                error = await self._session(transport)
                ever_connected = True
                failures = 0
            except ConnectError as exc:
                error = exc
            except Exception as exc:  # a bug or a bad URL: retrying would not help
                log.exception("%s: connection failed unexpectedly", redact(self.url))
                self._give_up(ConnectError(f"{redact(self.url)}: {type(exc).__name__}: {exc}",
                                           url=self.url, cause=exc))
                return
            self.last_error = error
            if isinstance(error, HandshakeRejectedError) and error.permanent:
                self._give_up(error)
                return
            if not ever_connected and not self.options.retry_initial_connect:
                self._give_up(error)
                return
            if ever_connected and not self.options.reconnect:
                self._give_up(error)
                return
            failures += 1
            limit = self.options.max_reconnect_attempts
            if limit is not None and failures > limit:
                self._give_up(ConnectError(
                    f"gave up after {failures - 1} reconnect attempt(s); last error: {error}",
                    url=self.url, cause=error, attempts=failures))
                return
            delay = self._backoff.next_delay()
            self._set_state(ConnectionState.DISCONNECTED, error=error, attempt=failures,
                            retry_in=delay)
            log.info("%s: %s; reconnecting in %.2fs (attempt %d)", redact(self.url), error,
                     delay, failures)
            await asyncio.sleep(delay)

    async def _session(self, transport: Transport) -> PondClientError:
        """One connection: open, wait for CONNECT, serve. Returns why a connected session
        ended; raises ``ConnectError`` if it never got connected."""
        frames = transport.receive()
        try:
            async with asyncio.timeout(self.options.connect_timeout):
                await transport.open()
                connect, early = await self._await_connect(transport, frames)
        except TimeoutError:
            await _close_quietly(transport, frames)
            raise ConnectError(f"{redact(self.url)}: no CONNECT frame from the server within "
                               f"{self.options.connect_timeout:g}s", url=self.url) from None
        except BaseException:
            await _close_quietly(transport, frames)
            raise
        transport.connected(connect.payload)
        self._became_connected(connect)
        for frame in early:
            self._dispatch(frame)
        reader = asyncio.ensure_future(self._read_loop(frames))
        writer = asyncio.ensure_future(self._write_loop(transport))
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            reader.cancel()
            writer.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            self._became_disconnected()
            await _close_quietly(transport, frames)
        return _lost_error(transport)

    async def _await_connect(self, transport: Transport, frames: AsyncIterator[str | bytes]
                             ) -> tuple[ServerFrame, list[ServerFrame]]:
        async for text in frames:
            try:
                parsed = parse_server_frames(text)
            except ProtocolError as exc:
                raise ConnectError(f"{redact(self.url)} is not a PondSocket endpoint: {exc}",
                                   url=self.url) from None
            for index, frame in enumerate(parsed):
                if frame.action == CONNECT:
                    return frame, parsed[index + 1:]
                log.debug("frame before CONNECT ignored: %s", frame)
        lost = _lost_error(transport)
        if isinstance(lost, HandshakeRejectedError):
            raise lost
        raise ConnectError(f"{redact(self.url)}: the connection closed before the server's "
                           f"CONNECT frame ({transport.close_reason or 'no reason given'})",
                           url=self.url)

    def _became_connected(self, connect: ServerFrame) -> None:
        payload = connect.payload
        connection_id = payload.get("connectionId") or payload.get("id")
        self.connection_id = connection_id if isinstance(connection_id, str) else None
        user_id = payload.get("id")
        self.user_id = user_id if isinstance(user_id, str) else self.connection_id
        granted = payload.get("extensions")
        self.extensions = frozenset(
            name for name in granted if name in self.options.extensions
        ) if isinstance(granted, list) else frozenset()
        self.connects += 1
        self._backoff.reset()
        self.error = None
        self._set_state(ConnectionState.CONNECTED)
        for control in list(self._channels.values()):
            if control.channel.state in (ChannelState.JOINING, ChannelState.STALLED):
                control.send_join()

    def _became_disconnected(self) -> None:
        self._queue.hold_unsent()
        self._abandoned.clear()  # the server forgot those joins with the connection
        for rid, pending in list(self._requests.items()):
            if pending.outbound.sent and not pending.future.done():
                del self._requests[rid]
                pending.future.set_exception(ConnectionLostError(
                    f"connection lost before the reply to {pending.outbound.event!r} on "
                    f"{pending.channel.name} arrived (the server may have handled it)"))
        for control in list(self._channels.values()):
            control.connection_lost()
        if not self._closing:
            # Announced by the reconnect loop, with the reason and the retry delay.
            self._set_state(ConnectionState.DISCONNECTED, notify=False)

    async def _read_loop(self, frames: AsyncIterator[str | bytes]) -> None:
        async for text in frames:
            try:
                parsed = parse_server_frames(text)
            except ProtocolError as exc:
                log.warning("ignoring a malformed frame from the server: %s", exc)
                self._on_error(exc)
                continue
            for frame in parsed:
                self._dispatch(frame)

    async def _write_loop(self, transport: Transport) -> None:
        queue = self._queue
        while True:
            item = queue.pop()
            if item is None:
                queue.drained.set()
                queue.wake.clear()
                await queue.wake.wait()
                continue
            try:
                await transport.send(item.text)
            except SendRejectedError as exc:
                item.sent = True
                self._dispatch(ServerFrame(ERROR, "SEND_REJECTED", item.channel,
                                           item.request_id,
                                           {"code": exc.status, "message": exc.message}))
                continue
            except (PondClientError, OSError):
                queue.push_front(item)
                return
            item.sent = True

    def _give_up(self, error: PondClientError) -> None:
        # Before the first connection connect() raises the error to its caller: no noise.
        level = logging.WARNING if self.connects else logging.DEBUG
        log.log(level, "%s: giving up: %s", redact(self.url), error)
        self._shutdown(error, error)

    def _shutdown(self, reason: PondClientError | None, waiter_error: PondClientError) -> None:
        """End everything: channels end with ``reason``, waiters fail with
        ``waiter_error``."""
        self._closing = True
        if reason is not None:
            self.error = reason
        for control in list(self._channels.values()):
            control.end(reason, waiter_error)
        for pending in self._requests.values():
            if not pending.future.done():
                pending.future.set_exception(waiter_error)
        self._requests.clear()
        self._queue.clear()
        self._set_state(ConnectionState.CLOSED, error=reason)

    # -- internals: outbound -------------------------------------------------------------

    def _enqueue(self, chan: Channel, text: str, request_id: str, event: str) -> Outbound:
        item = Outbound(text, BROADCAST, chan.name, request_id, event)
        ready = chan.state is ChannelState.JOINED and self.is_connected
        dropped = self._queue.put(item, ready=ready)
        if dropped is not None:
            pending = self._requests.pop(dropped.request_id, None)
            if pending is not None and not pending.future.done():
                pending.future.set_exception(QueueFullError(
                    f"request {dropped.event!r} dropped from the full outbound queue"))
        return item

    def _send_control(self, action: str, channel: str, request_id: str,
                      payload: dict[str, Any] | None = None) -> None:
        if not self.is_connected:
            return
        text = encode_client_frame(action, action, channel, request_id, payload)
        self._queue.put_control(Outbound(text, action, channel, request_id))

    def _channel_joined(self, chan: Channel) -> None:
        self._queue.release(chan.name)

    def _channel_ended(self, chan: Channel, reason: PondClientError | None) -> None:
        control = self._channels.get(chan.name)
        if control is not None and control.channel is chan:
            del self._channels[chan.name]
        self._queue.drop_channel(chan.name)
        error = reason or ChannelClosedError(chan.name,
                                             "the channel was left before the reply arrived")
        for rid, pending in list(self._requests.items()):
            if pending.channel is chan:
                del self._requests[rid]
                if not pending.future.done():
                    pending.future.set_exception(error)

    def _abandon_join(self, request_id: str, channel: str) -> None:
        """A join we stopped waiting for: leave at once if it is acknowledged later."""
        self._abandoned[request_id] = channel
        while len(self._abandoned) > 256:
            self._abandoned.popitem(last=False)

    async def _request(self, chan: Channel, event: str, payload: dict[str, Any] | None,
                       timeout: float) -> Message:
        request_id = new_request_id()
        text = encode_client_frame(BROADCAST, event, chan.name, request_id, payload)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        item = self._enqueue(chan, text, request_id, event)
        self._requests[request_id] = _Pending(future, chan, item)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            if future.done() and not future.cancelled():
                return future.result()
            self._expire(request_id)
            raise RequestTimeoutError(chan.name, event, timeout) from None
        finally:
            self._requests.pop(request_id, None)
            if not future.done():
                future.cancel()

    def _expire(self, request_id: str) -> None:
        """Forget a request: unsent, it is not sent; a late reply is discarded."""
        self._queue.discard(request_id)
        self._expired[request_id] = None
        while len(self._expired) > _EXPIRED_LIMIT:
            self._expired.popitem(last=False)

    # -- internals: inbound --------------------------------------------------------------

    def _dispatch(self, frame: ServerFrame) -> None:
        rid = frame.request_id
        action = frame.action
        if action == CONNECT:
            return
        if action == SYSTEM and frame.event == ACKNOWLEDGE and rid in self._abandoned:
            self._late_acknowledgement(rid)
            return
        if rid and action in (SYSTEM, ERROR):
            pending = self._requests.pop(rid, None)
            if pending is not None:
                self._settle(pending, frame)
                return
            if rid in self._expired:
                log.debug("discarding a late answer to an expired request: %s", frame)
                return
        control = self._channels.get(frame.channel)
        if control is not None:
            control.handle(frame)
            return
        message = Message.from_frame(frame)
        if action == ERROR:
            error = server_error(frame)
            if frame.channel in GATEWAY_CHANNELS or not frame.channel:
                log.warning("error from the server: %s", error)
            self._on_error(error)
        if frame.channel in GATEWAY_CHANNELS or not frame.channel:
            self._on_message(message)
        else:
            log.debug("frame for a channel this client is not in: %s", frame)

    def _late_acknowledgement(self, request_id: str) -> None:
        """The server accepted a join after we stopped waiting: take it if the channel is
        being joined again, else leave at once."""
        name = self._abandoned.pop(request_id)
        control = self._channels.get(name)
        if control is not None and control.channel.state is ChannelState.JOINING:
            control.adopt_join()
        elif control is None:
            log.info("late acknowledgement of the abandoned join of %s: leaving it", name)
            self._send_control(LEAVE_CHANNEL, name, new_request_id())

    def _settle(self, pending: _Pending, frame: ServerFrame) -> None:
        future = pending.future
        if future.done():
            return
        if frame.action == ERROR or frame.event in (UNAUTHORIZED, NOT_FOUND):
            future.set_exception(server_error(frame))
        else:
            future.set_result(Message.from_frame(frame))


def _lost_error(transport: Transport) -> PondClientError:
    """Why a connection ended: a 44xx close code is a refusal (4000 + HTTP status)."""
    code = getattr(transport, "close_code", None)
    if isinstance(code, int) and 4400 <= code <= 4499:
        return HandshakeRejectedError(code - 4000, getattr(transport, "close_text", ""),
                                      url=transport.url, close_code=code)
    return ConnectionLostError(transport.close_reason or "connection lost")


async def _close_quietly(transport: Transport, frames: AsyncIterator[Any]) -> None:
    with contextlib.suppress(Exception):
        await asyncio.shield(transport.close())
    aclose = getattr(frames, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await aclose()



class ClientLink:
    """The client's side of its contract with its channels (:class:`ChannelHost`): what a
    :class:`Channel` may ask of the :class:`PondClient` it belongs to."""

    __slots__ = ("_client",)

    def __init__(self, client: PondClient) -> None:
        self._client = client

    @property
    def options(self) -> ClientOptions:
        return self._client.options

    @property
    def is_connected(self) -> bool:
        return self._client.is_connected

    @property
    def extensions(self) -> frozenset[str]:
        return self._client.extensions

    def enqueue(self, chan: Channel, text: str, request_id: str, event: str) -> None:
        self._client._enqueue(chan, text, request_id, event)

    def send_control(self, action: str, channel: str, request_id: str,
                     payload: dict[str, Any] | None = None) -> None:
        self._client._send_control(action, channel, request_id, payload)

    async def request(self, chan: Channel, event: str, payload: dict[str, Any] | None,
                      timeout: float) -> Message:
        return await self._client._request(chan, event, payload, timeout)

    def abandon_join(self, request_id: str, channel: str) -> None:
        self._client._abandon_join(request_id, channel)

    def channel_joined(self, chan: Channel) -> None:
        self._client._channel_joined(chan)

    def channel_ended(self, chan: Channel, reason: PondClientError | None) -> None:
        self._client._channel_ended(chan, reason)


__all__ = ["ConnectionState", "PondClient", "ServerError", "StateChange"]
