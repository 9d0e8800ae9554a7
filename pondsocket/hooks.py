"""Hooks: rate limiting, metrics and lifecycle callbacks.

Everything in :class:`Hooks` is applied by the framework itself once configured:

* ``rate_limiter`` is asked before every client frame of a connection (key: the user id);
* ``channel_rate_limiter`` before every ``BROADCAST`` to a channel (key: ``"<channel>:<user>"``);
  a refused frame is answered with an ``ERROR``/``RATE_LIMITED`` frame, code 429;
* ``metrics`` receives every :class:`MetricsCollector` call;
* ``on_connect``/``on_disconnect`` get the transport; ``before_join``/``after_join`` get the
  :class:`~pondsocket.User` and channel name (``before_join`` may raise a
  :class:`~pondsocket.PondError` to refuse the join); ``before_message`` gets the inbound
  :class:`~pondsocket.Event` (raising refuses the message), ``after_message`` gets the event and
  the handler's exception or ``None``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import too_many_requests
from .listeners import PondListener
from .types import Event, MessageEvent, PondMessage, RecipientSpec, User

if TYPE_CHECKING:
    from .channel import Channel, Member
    from .contexts.event import EventContext
    from .transport.base import Transport

OnConnect = Callable[["Transport"], Awaitable[None]]
OnDisconnect = Callable[["Transport"], Awaitable[None]]
BeforeJoin = Callable[[User, str], Awaitable[None]]
AfterJoin = Callable[[User, str], Awaitable[None]]
BeforeMessage = Callable[[Event], Awaitable[None]]
AfterMessage = Callable[[Event, BaseException | None], Awaitable[None]]


@runtime_checkable
class RateLimiter(Protocol):
    """Decides whether the next action for ``key`` may proceed."""

    async def allow(self, key: str) -> bool: ...

    async def reset(self, key: str) -> None: ...


class TokenBucketRateLimiter:
    """A token bucket per key: ``capacity`` tokens, refilled at ``rate`` tokens per second.

    Buckets that are full again are forgotten, so memory stays bounded by the number of keys
    that were active in the last ``capacity / rate`` seconds.
    """

    def __init__(self, *, rate: float, capacity: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self._rate = float(rate)
        self._capacity = float(capacity)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._allowed_since_sweep = 0

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def capacity(self) -> float:
        return self._capacity

    def allow_now(self, key: str) -> bool:
        """The synchronous form of :meth:`allow`."""
        now = self._clock()
        tokens, last = self._buckets.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        self._allowed_since_sweep += 1
        if self._allowed_since_sweep >= 4096:
            self._sweep(now)
        return True

    async def allow(self, key: str) -> bool:
        return self.allow_now(key)

    async def reset(self, key: str) -> None:
        self._buckets.pop(key, None)

    async def reset_all(self) -> None:
        self._buckets.clear()

    def _sweep(self, now: float) -> None:
        self._allowed_since_sweep = 0
        refill = self._capacity / self._rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < refill}


@runtime_checkable
class MetricsCollector(Protocol):
    """Receives counters and timings. Every method is called by the framework;
    ``queue_depth("connection:<id>", n)`` when a connection's backlog reaches 8, 16, 32, ...
    frames."""

    def connection_opened(self, conn_id: str, endpoint: str) -> None: ...
    def connection_closed(self, conn_id: str, duration_seconds: float) -> None: ...
    def connection_error(self, conn_id: str, err: BaseException) -> None: ...
    def message_received(self, conn_id: str, channel: str, event: str, size: int) -> None: ...
    def message_sent(self, conn_id: str, channel: str, event: str, size: int) -> None: ...
    def message_broadcast(self, channel: str, event: str, recipient_count: int) -> None: ...
    def channel_joined(self, user_id: str, channel: str) -> None: ...
    def channel_left(self, user_id: str, channel: str) -> None: ...
    def channel_created(self, channel: str) -> None: ...
    def channel_destroyed(self, channel: str) -> None: ...
    def handler_duration(self, handler: str, duration_seconds: float) -> None: ...
    def queue_depth(self, queue: str, depth: int) -> None: ...
    def error(self, component: str, err: BaseException) -> None: ...



class MetricsListener(PondListener):
    """Reports the server's lifecycle to a :class:`MetricsCollector`. A
    :class:`~pondsocket.PondSocket` attaches one when ``Hooks.metrics`` is set; handler
    timings, errors and per-frame sizes are reported where they are measured."""

    def __init__(self, metrics: MetricsCollector) -> None:
        self.metrics = metrics

    def connection_opened(self, endpoint_path: str, user_id: str) -> None:
        self.metrics.connection_opened(user_id, endpoint_path)

    def connection_closed(self, endpoint_path: str, user_id: str, duration: float) -> None:
        self.metrics.connection_closed(user_id, duration)

    def channel_opened(self, channel: Channel) -> None:
        self.metrics.channel_created(channel.name)

    def channel_closed(self, channel: Channel) -> None:
        self.metrics.channel_destroyed(channel.name)

    def member_joined(self, channel: Channel, member: Member) -> None:
        self.metrics.channel_joined(member.user_id, channel.name)

    def member_left(self, channel: Channel, user_id: str) -> None:
        self.metrics.channel_left(user_id, channel.name)

    def broadcast_sent(self, channel: Channel, event: str, payload: PondMessage,
                       recipients: RecipientSpec, request_id: str, delivered: int) -> None:
        self.metrics.message_broadcast(channel.name, event, delivered)

class NoopMetrics:
    """A :class:`MetricsCollector` that records nothing."""

    def connection_opened(self, conn_id: str, endpoint: str) -> None: pass
    def connection_closed(self, conn_id: str, duration_seconds: float) -> None: pass
    def connection_error(self, conn_id: str, err: BaseException) -> None: pass
    def message_received(self, conn_id: str, channel: str, event: str, size: int) -> None: pass
    def message_sent(self, conn_id: str, channel: str, event: str, size: int) -> None: pass
    def message_broadcast(self, channel: str, event: str, recipient_count: int) -> None: pass
    def channel_joined(self, user_id: str, channel: str) -> None: pass
    def channel_left(self, user_id: str, channel: str) -> None: pass
    def channel_created(self, channel: str) -> None: pass
    def channel_destroyed(self, channel: str) -> None: pass
    def handler_duration(self, handler: str, duration_seconds: float) -> None: pass
    def queue_depth(self, queue: str, depth: int) -> None: pass
    def error(self, component: str, err: BaseException) -> None: pass


@dataclass(slots=True)
class Hooks:
    """The hooks of a server; pass as ``Options(hooks=Hooks(...))``."""

    rate_limiter: RateLimiter | None = None
    channel_rate_limiter: RateLimiter | None = None
    metrics: MetricsCollector | None = None
    on_connect: OnConnect | None = None
    on_disconnect: OnDisconnect | None = None
    before_join: BeforeJoin | None = None
    after_join: AfterJoin | None = None
    before_message: BeforeMessage | None = None
    after_message: AfterMessage | None = None


EventMiddleware = Callable[["EventContext", Callable[[], Awaitable[None]]], Awaitable[None]]


def with_rate_limiter(hooks: Hooks, key_fn: Callable[[MessageEvent], str]) -> EventMiddleware:
    """A per-handler middleware for ``lobby.on_message(...)`` that applies
    ``hooks.rate_limiter`` with the key ``"on_message:" + key_fn(message)``; a refused message
    is answered with an ``ERROR``/``RATE_LIMITED`` frame (code 429) and the handler does not
    run. The prefix keeps these buckets apart from the automatic per-connection limit (keyed
    by the user id), so the same ``Hooks`` in ``Options`` does not charge a message twice."""
    limiter = hooks.rate_limiter
    if limiter is None:
        raise ValueError("with_rate_limiter needs hooks.rate_limiter to be set")

    async def rate_limited(ctx: EventContext, next_: Callable[[], Awaitable[None]]) -> None:
        if not await limiter.allow(f"on_message:{key_fn(ctx.message)}"):
            raise too_many_requests(ctx.channel.name, "Rate limit exceeded")
        await next_()

    return rate_limited


def with_metrics(hooks: Hooks) -> EventMiddleware:
    """A per-handler middleware for ``lobby.on_message(...)`` that reports the handler's
    duration (``handler_duration``, keyed ``"<channel>:<event>"``) and its errors."""
    metrics: Any = hooks.metrics or NoopMetrics()

    async def measured(ctx: EventContext, next_: Callable[[], Awaitable[None]]) -> None:
        started = time.perf_counter()
        try:
            await next_()
        except BaseException as err:
            metrics.error("handler", err)
            raise
        finally:
            metrics.handler_duration(f"{ctx.channel.name}:{ctx.event_name}",
                                     time.perf_counter() - started)

    return measured


__all__ = ["AfterJoin", "AfterMessage", "BeforeJoin", "BeforeMessage", "EventMiddleware", "Hooks",
           "MetricsCollector", "MetricsListener", "NoopMetrics", "OnConnect", "OnDisconnect",
           "RateLimiter", "TokenBucketRateLimiter", "with_metrics", "with_rate_limiter"]
