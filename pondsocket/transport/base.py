"""Transports: the bridge between one client connection and the core.

:class:`Transport` is the protocol the core talks to. :class:`BaseTransport` implements it for
every real transport: a bounded outbound queue drained by one writer task (so frames reach a
connection in the order the server produced them, and a slow peer never blocks anyone else),
and strict parsing of inbound frames with an error frame for every bad one. A concrete
transport only implements :meth:`BaseTransport._write` and :meth:`BaseTransport._shutdown`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from ..enums import ErrorTypes, OverflowPolicy, ServerActions, SystemEntity, TransportType
from ..options import Options
from ..types import Event
from ..wire import (
    Frame,
    WireError,
    decode_json,
    encode_event,
    encode_frame,
    frame_to_event,
    is_legacy_ping,
    new_request_id,
    sniff_envelope,
    wire_to_event,
)

log = logging.getLogger("pondsocket.transport")

OnCloseCallback = Callable[["Transport"], Awaitable[None]]
OnMessageHandler = Callable[[Event, "Transport"], Awaitable[None]]

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_TRY_AGAIN_LATER = 1013
# A close reason must fit in a control frame: 125 bytes minus the 2-byte code.
MAX_CLOSE_REASON = 123


def truncate_close_reason(text: str) -> str:
    """``text`` cut to the bytes a close frame can carry (never in the middle of a character)."""
    return text.encode()[:MAX_CLOSE_REASON].decode(errors="ignore")


@runtime_checkable
class Transport(Protocol):
    """What the core needs from a connection."""

    def get_id(self) -> str: ...
    async def send_event(self, event: Event) -> None: ...
    def get_assign(self, key: str) -> Any: ...
    def set_assign(self, key: str, value: Any) -> None: ...
    def clone_assigns(self) -> dict[str, Any]: ...
    def is_active(self) -> bool: ...
    async def close(self) -> None: ...
    def on_close(self, callback: OnCloseCallback) -> None: ...
    def on_message(self, handler: OnMessageHandler) -> None: ...
    async def handle_messages(self) -> None: ...
    def transport_type(self) -> TransportType: ...


@runtime_checkable
class PushableTransport(Transport, Protocol):
    """A transport whose inbound frames are pushed to it (SSE POST bodies, tests)."""

    async def push_message(self, data: bytes) -> None: ...


class _Signal:
    """A one-shot event that allocates nothing until someone waits for it (an
    ``asyncio.Event`` costs a deque per instance: two per connection add up)."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        waiters, self._waiters = self._waiters, None
        for future in waiters or ():
            if not future.done():
                future.set_result(None)

    async def wait(self) -> None:
        if self._set:
            return
        future = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(future)
        await future


class BaseTransport:
    """Bounded, ordered outbound delivery and strict inbound parsing for one connection.

    Slotted, as every connection has one: a new attribute needs its name in ``__slots__``
    (subclasses without ``__slots__`` get a ``__dict__`` as usual)."""

    __slots__ = ("__weakref__", "_assigns", "_busy_since", "_close_callbacks", "_close_code",
                 "_close_reason", "_closed", "_closer", "_closing", "_done", "_drain_waiters",
                 "_flush_on_close", "_handler", "_on_backlog", "_on_frame_received",
                 "_on_frame_sent", "_queue", "_waiter", "_writer", "dropped_frames", "extensions",
                 "frames_sent", "id", "max_message_size", "overflow_policy", "queue_limit",
                 "send_timeout")

    kind: TransportType = TransportType.MEMORY
    #: True when :meth:`_write_now` can hand a frame to the peer without waiting.
    sync_writes = False
    #: False to let the writer task end whenever the queue is empty (no task per idle peer).
    persistent_writer = True
    #: Frames that went through a queue, all transports together: a broadcast that queued
    #: any yields once so that writers drain between broadcasts of a tight loop.
    frames_queued_total = 0

    def __init__(self, id: str, *, assigns: dict[str, Any] | None = None,
                 options: Options | None = None) -> None:
        self.id = id
        self._assigns: dict[str, Any] = dict(assigns or {})
        self._queue: deque[Frame] | None = None  # allocated by the first frame that waits
        self._waiter: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._handler: OnMessageHandler | None = None
        self._close_callbacks: list[OnCloseCallback] = []
        self._closing = False
        self._closed = _Signal()
        self._done = _Signal()  # set once the close callbacks have run
        self._closer: asyncio.Task[Any] | None = None
        self._close_code = CLOSE_NORMAL
        self._close_reason = ""
        # Metrics hook points, set by the endpoint only when metrics are configured.
        self._on_frame_sent: Callable[[BaseTransport, Frame], None] | None = None
        self._on_frame_received: Callable[[BaseTransport, Event, int], None] | None = None
        self._on_backlog: Callable[[BaseTransport, int], None] | None = None
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._busy_since = 0.0  # loop time when the write in progress started, 0 when idle
        self._flush_on_close = True  # False when the peer is gone: nothing more to deliver
        self.dropped_frames = 0
        self.frames_sent = 0
        #: The protocol extensions this connection uses (:mod:`pondsocket.extensions`): what
        #: it asks for until it is registered, what the server granted afterwards.
        self.extensions: frozenset[str] = frozenset()
        self.configure(options)

    # -- configuration -------------------------------------------------------------------

    def instrument(self, *, frame_sent: Callable[[BaseTransport, Frame], None],
                   frame_received: Callable[[BaseTransport, Event, int], None],
                   backlog: Callable[[BaseTransport, int], None]) -> None:
        """Report every frame written and read, and a growing queue (at 8, 16, 32, ...
        frames). Only set when metrics are configured: otherwise nothing is called."""
        self._on_frame_sent = frame_sent
        self._on_frame_received = frame_received
        self._on_backlog = backlog

    def configure(self, options: Options | None) -> None:
        """Apply the server's limits (called by the endpoint when the transport registers)."""
        opts = options or Options()
        self.max_message_size = opts.max_message_size
        self.queue_limit = opts.send_channel_buffer
        self.overflow_policy = OverflowPolicy(opts.overflow_policy)
        self.send_timeout = opts.send_timeout

    # -- Transport protocol --------------------------------------------------------------

    def get_id(self) -> str:
        return self.id

    @property
    def user_id(self) -> str:
        return self.id

    def get_assign(self, key: str) -> Any:
        return self._assigns.get(key)

    def set_assign(self, key: str, value: Any) -> None:
        self._assigns[key] = value

    def clone_assigns(self) -> dict[str, Any]:
        return dict(self._assigns)

    def is_active(self) -> bool:
        return not self._closing

    def transport_type(self) -> TransportType:
        return self.kind

    def on_close(self, callback: OnCloseCallback) -> None:
        self._close_callbacks.append(callback)

    def on_message(self, handler: OnMessageHandler) -> None:
        self._handler = handler

    async def handle_messages(self) -> None:
        """Run until the connection is closed (transports that pull frames override this)."""
        await self._closed.wait()

    async def send_event(self, event: Event) -> None:
        self.send_frame(encode_event(event))

    # -- outbound ------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        return len(self._queue) if self._queue else 0

    @property
    def close_code(self) -> int:
        return self._close_code

    @property
    def close_reason(self) -> str:
        return self._close_reason

    def send_frame(self, frame: Frame) -> bool:
        """Queue ``frame`` for this connection without waiting. False if it was not queued."""
        if self._closing:
            return False
        queue = self._queue
        if (self.sync_writes and not queue and (self._writer is None or self._waiter is not None)
                and self._write_now(frame)):
            self.frames_sent += 1
            if self._on_frame_sent is not None:
                self._on_frame_sent(self, frame)
            return True
        if queue is None:
            queue = self._queue = deque()
        if len(queue) >= self.queue_limit:
            if self.overflow_policy is OverflowPolicy.DROP_OLDEST:
                queue.popleft()
                self.dropped_frames += 1
            else:
                self.dropped_frames += 1
                self._begin_close(CLOSE_TRY_AGAIN_LATER, "outbound queue overflow",
                                  flush=False)
                return False
        queue.append(frame)
        BaseTransport.frames_queued_total += 1
        depth = len(queue)
        if self._on_backlog is not None and depth >= 8 and depth & (depth - 1) == 0:
            self._on_backlog(self, depth)  # reported at 8, 16, 32, ... queued frames
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        elif self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        return True

    def send_error(self, error_type: str, code: int, message: str, *, request_id: str = "",
                   channel_name: str = SystemEntity.GATEWAY, extra: dict[str, Any] | None = None
                   ) -> None:
        """Queue an ``ERROR`` frame ``{"code", "message", ...extra}``."""
        payload: dict[str, Any] = {"code": code, "message": message}
        if extra:
            payload.update(extra)
        self.send_frame(encode_frame(ServerActions.ERROR, error_type, channel_name,
                                     request_id or new_request_id(), payload))

    async def _write_loop(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        _watchdog(loop).watch(self)
        try:
            while True:
                while queue:
                    frame = queue.popleft()
                    self._busy_since = loop.time()  # the watchdog enforces send_timeout
                    await self._write(frame)
                    self.frames_sent += 1
                    if self._on_frame_sent is not None:
                        self._on_frame_sent(self, frame)
                self._busy_since = 0.0
                if self._drain_waiters:
                    self._wake_drain_waiters()
                if self._closing:
                    break
                if not self.persistent_writer:
                    return  # started again by the next frame that has to wait
                self._waiter = loop.create_future()
                await self._waiter
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the peer went away mid-write
            log.debug("write to %s failed: %r", self.id, exc)
            self._begin_close(CLOSE_GOING_AWAY, "write failed", flush=False)
        finally:
            self._writer = None
        await self._finish_close()

    def _write_stalled(self) -> None:
        log.info("closing %s: a write took longer than %.1fs", self.id, self.send_timeout)
        self._begin_close(CLOSE_TRY_AGAIN_LATER, "send timeout", flush=False)

    async def drain(self) -> None:
        """Wait until every frame queued so far has been written (or the connection closed)."""
        if (not self._queue and self._writer is None) or self._closed.is_set():
            return
        if not self._queue and self._waiter is not None:
            return
        future = asyncio.get_running_loop().create_future()
        self._drain_waiters.append(future)
        await future

    def _wake_drain_waiters(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)

    async def _write(self, frame: Frame) -> None:
        """Deliver one frame to the peer (implemented by each concrete transport)."""
        raise NotImplementedError

    def _write_now(self, frame: Frame) -> bool:
        """Write ``frame`` at once if the peer can take it without waiting (when
        ``sync_writes``); False sends it through the queue and the writer task instead."""
        return False

    async def _shutdown(self, code: int, reason: str) -> None:
        """Close the underlying connection (implemented by each concrete transport)."""

    # -- closing -------------------------------------------------------------------------

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Close after the frames already queued are written (bounded by ``send_timeout``)."""
        self._begin_close(code, reason, flush=True)
        await self.wait_closed()

    def _begin_close(self, code: int, reason: str, *, flush: bool) -> None:
        if self._closing:
            return
        self._closing = True
        self._flush_on_close = flush
        self._close_code, self._close_reason = code, reason
        if not flush and self._queue:
            self._queue.clear()
        if self._writer is not None:
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            # The writer itself (a failed write) must not cancel itself: its
            # cancellation would interrupt the close callbacks it runs on its way out.
            if not flush and self._writer is not asyncio.current_task():
                self._writer.cancel()
                # Not left to the writer's ``finally``: cancelled before its first step it
                # never runs one, and the task (its CancelledError's traceback holds the
                # writer's frame, and so this transport) would stay in a cycle with us.
                self._writer = None
                asyncio.get_running_loop().create_task(self._finish_close())
        else:
            asyncio.get_running_loop().create_task(self._finish_close())

    def connection_lost(self) -> None:
        """Called by a transport when the peer disconnected on its own."""
        self._begin_close(CLOSE_GOING_AWAY, "connection lost", flush=False)

    async def _finish_close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        self._closer = asyncio.current_task()
        self._wake_drain_waiters()
        try:
            try:
                await self._shutdown(self._close_code, self._close_reason)
            except Exception as exc:
                log.debug("shutdown of %s failed: %r", self.id, exc)
            callbacks, self._close_callbacks = self._close_callbacks, []
            for callback in callbacks:
                try:
                    await callback(self)
                except Exception:
                    log.exception("on_close callback of %s failed", self.id)
        finally:
            self._done.set()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and its ``on_close`` callbacks have run
        (the user has left its channels)."""
        await self._closed.wait()
        if asyncio.current_task() is not self._closer:  # not from inside a close callback
            await self._done.wait()

    # -- inbound -------------------------------------------------------------------------

    async def feed(self, data: str | bytes) -> None:
        """Handle one raw client frame: check its size, parse it, dispatch it.

        Every bad frame is answered with an ``ERROR``/``INVALID_MESSAGE`` frame
        (``{"code", "message", "error"}``; 413 when too large, 400 otherwise); the connection
        stays open.
        """
        if self._closing:
            return
        limit = self.max_message_size
        if isinstance(data, bytes):
            size = len(data)
        elif len(data) * 4 <= limit and self._on_frame_received is None:
            size = len(data)  # UTF-8 needs at most 4 bytes a character: within the limit
        else:
            size = len(data.encode(errors="surrogatepass"))
        if size > limit:
            # Answer on the sender's channel with its requestId when they can be found, so
            # that the client can tie the error to the message it sent.
            request_id, channel_name = sniff_envelope(data)
            self.send_error(ErrorTypes.INVALID_MESSAGE, 413,
                            f"wireMessage: Message of {size} bytes exceeds the limit of "
                            f"{limit} bytes", request_id=request_id,
                            channel_name=channel_name or SystemEntity.GATEWAY,
                            extra={"error": "wireMessage: Message too large"})
            return
        try:
            if isinstance(data, bytes):
                try:
                    data = data.decode()
                except UnicodeDecodeError:
                    raise WireError("wireMessage", "Invalid UTF-8") from None
            raw = decode_json(data)
            if is_legacy_ping(raw):
                return
            event = wire_to_event(raw)
        except WireError as err:
            self.send_error(ErrorTypes.INVALID_MESSAGE, 400, str(err),
                            request_id=err.request_id or "", extra={"error": str(err)})
            return
        if self._on_frame_received is not None:
            self._on_frame_received(self, event, size)
        if self._handler is not None:
            await self._handler(event, self)


class _WriteWatchdog:
    """Closes connections whose current write has not completed within their send_timeout.

    One per event loop, checking a few times per timeout: far cheaper than arming a timer
    around every single write.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transports: weakref.WeakSet[BaseTransport] = weakref.WeakSet()
        self._timer: asyncio.TimerHandle | None = None

    def watch(self, transport: BaseTransport) -> None:
        self._transports.add(transport)
        if self._timer is None:
            self._schedule()

    def _schedule(self) -> None:
        shortest = min((t.send_timeout for t in self._transports), default=1.0)
        self._timer = self._loop.call_later(min(1.0, max(0.01, shortest / 4)), self._check)

    def _check(self) -> None:
        self._timer = None
        now = self._loop.time()
        for transport in list(self._transports):
            if transport._closing:
                self._transports.discard(transport)
            elif transport._busy_since and now - transport._busy_since > transport.send_timeout:
                self._transports.discard(transport)
                transport._write_stalled()
        if self._transports:
            self._schedule()


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteWatchdog] = (
    weakref.WeakKeyDictionary())


def _watchdog(loop: asyncio.AbstractEventLoop) -> _WriteWatchdog:
    watchdog = _watchdogs.get(loop)
    if watchdog is None:
        watchdog = _watchdogs[loop] = _WriteWatchdog(loop)
    return watchdog


def deliver(transport: Transport, frame: Frame) -> None:
    """Queue ``frame`` on ``transport`` without waiting.

    A :class:`BaseTransport` takes the shared bytes as they are. Any other implementation of
    the :class:`Transport` protocol gets an :class:`Event` through ``send_event`` in a task.
    """
    if isinstance(transport, BaseTransport):
        transport.send_frame(frame)
        return
    asyncio.get_running_loop().create_task(transport.send_event(frame_to_event(frame)))


__all__ = ["CLOSE_GOING_AWAY", "CLOSE_NORMAL", "CLOSE_TRY_AGAIN_LATER", "MAX_CLOSE_REASON",
           "BaseTransport", "OnCloseCallback", "OnMessageHandler", "PushableTransport",
           "Transport", "deliver", "truncate_close_reason"]
