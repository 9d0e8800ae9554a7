"""A :class:`~pondsocket.PubSub` over Redis pub/sub (``pip install "pondsocket[redis]"``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..pubsub import PubSubClosedError, PubSubHandler

log = logging.getLogger("pondsocket.redis")

_GLOB_SPECIALS = "\\*?[]^"
#: A link silent for this many health-check intervals is taken for stalled.
SILENT_INTERVALS = 3


def to_glob(pattern: str) -> str:
    """A subscription pattern (exact topic, or ending with ``*``) as a Redis glob."""
    exact = pattern[:-1] if pattern.endswith("*") else pattern
    escaped = "".join(f"\\{c}" if c in _GLOB_SPECIALS else c for c in exact)
    return escaped + "*" if pattern.endswith("*") else escaped


class RedisPubSub:
    """Redis pub/sub for a cluster of PondSocket nodes.

    One Redis connection subscribes with ``PSUBSCRIBE`` (a node subscribes once per namespace)
    and one reader task waits for messages - no polling. When Redis goes away the reader
    retries with backoff; redis-py re-subscribes on reconnect, and the callbacks given to
    :meth:`on_reconnect` run so that the cluster resynchronises what it missed. ``publish``
    raises while Redis is down (the cluster's outbox retries). With ``owns_client`` the Redis
    client is closed by :meth:`close`.

    A link can also stall without any error (a firewall or NAT that forgot the flow, a
    congested network): every ``health_check_interval`` seconds the subscription sends a
    ``PING``, and when it has heard nothing (no message, no pong) for
    ``SILENT_INTERVALS`` intervals it drops the connection and subscribes again on a new
    one, counting as disconnected meanwhile. A ``publish`` that gets no answer within as
    long fails (and is retried). ``health_check_interval=None`` turns both off.
    """

    def __init__(self, redis_client: Redis, *, owns_client: bool = False,
                 max_backoff: float = 2.0, health_check_interval: float | None = 1.0) -> None:
        if health_check_interval is not None and health_check_interval <= 0:
            raise ValueError("health_check_interval must be positive (or None)")
        self._redis = redis_client
        self._owns_client = owns_client
        self._max_backoff = max_backoff
        self._interval = health_check_interval
        self._pubsub: Any = None
        self._handlers: dict[str, tuple[str, PubSubHandler]] = {}  # glob -> (pattern, handler)
        self._reader: asyncio.Task[None] | None = None
        self._reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._subscribed_once: set[str] = set()
        self._closed = False
        self.connected = False  # True while the subscription is live
        self.reconnects = 0

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` each time the subscription is re-established after an outage."""
        self._reconnect_callbacks.append(callback)

    async def subscribe(self, pattern: str, handler: PubSubHandler) -> None:
        if self._closed:
            raise PubSubClosedError()
        glob = to_glob(pattern)
        self._handlers[glob] = (pattern, handler)
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
        await self._pubsub.psubscribe(glob)
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())

    async def unsubscribe(self, pattern: str) -> None:
        glob = to_glob(pattern)
        if self._handlers.pop(glob, None) is not None and self._pubsub is not None:
            # (a failure means the connection, and the subscription with it, is gone)
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await self._pubsub.punsubscribe(glob)

    async def publish(self, topic: str, data: bytes) -> None:
        if self._closed:
            raise PubSubClosedError()
        if self._interval is None:
            await self._redis.publish(topic, data)
            return
        limit = self._interval * SILENT_INTERVALS
        try:
            # On timeout redis-py drops the connection: the retry gets a new one.
            async with asyncio.timeout(limit):
                await self._redis.publish(topic, data)
        except TimeoutError:
            raise RedisTimeoutError(f"no answer from Redis to PUBLISH within {limit:g}s"
                                    ) from None

    async def close(self) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                await self._pubsub.aclose()
        if self._owns_client:
            await self._redis.aclose()

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.05
        heard = pinged = loop.time()
        while not self._closed:
            try:
                message = await self._next_message()
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self.connected = False
                log.warning("redis subscription lost (%s); retrying in %.2fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                heard = loop.time()  # a fresh connection gets a full grace period
                continue
            backoff = 0.05
            now = loop.time()
            if message is not None:
                heard = now
                await self._dispatch(message)
            if self._interval is None:
                continue
            if now - heard > self._interval * SILENT_INTERVALS:
                await self._drop_stalled(now - heard)
                heard = now
            elif now - pinged >= self._interval and self.connected:
                pinged = now
                # The pong comes back as a message; a failure shows at the next read.
                with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
                    await self._pubsub.ping()

    async def _next_message(self) -> Any:
        """The next message, or None after ``health_check_interval`` without one."""
        if self._interval is None:
            return await self._pubsub.get_message(ignore_subscribe_messages=False,
                                                  timeout=None)
        try:
            # The outer bound covers a reconnection stuck in its handshake.
            async with asyncio.timeout(self._interval * 2):
                return await self._pubsub.get_message(ignore_subscribe_messages=False,
                                                      timeout=self._interval)
        except TimeoutError:
            return None

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "psubscribe":
            await self._confirmed(_text(message["channel"]))
        elif kind == "pmessage":
            entry = self._handlers.get(_text(message["pattern"]))
            if entry is not None:
                try:
                    await entry[1](_text(message["channel"]), message["data"])
                except Exception:
                    log.exception("pub/sub handler for %s failed", entry[0])

    async def _drop_stalled(self, silent: float) -> None:
        """Nothing heard for ``silent`` seconds: drop the connection; the next read opens a
        new one and subscribes again (a second PSUBSCRIBE confirmation: a reconnect)."""
        if self.connected:
            log.warning("redis subscription silent for %.1fs (stalled link?); reconnecting",
                        silent)
            self.connected = False
        connection = self._pubsub.connection
        if connection is not None:
            await connection.disconnect(nowait=True)

    async def _confirmed(self, glob: str) -> None:
        """A PSUBSCRIBE confirmation; a second one for the same glob means a reconnect."""
        self.connected = True
        if glob not in self._subscribed_once:
            self._subscribed_once.add(glob)
            return
        self.reconnects += 1
        log.info("redis subscription %s re-established", glob)
        for callback in self._reconnect_callbacks:
            try:
                await callback()
            except Exception:
                log.exception("reconnect callback failed")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
