"""One Redis server's part of a :class:`~pondsocket.distributed.RedisPubSub`.

A shard holds one Redis client and one subscribing connection (with ``sharded``, to one
master of a Redis Cluster, through sharded pub/sub: ``SSUBSCRIBE``/``SPUBLISH``, one
command per hash slot). Subscriptions are asked for
one topic at a time but sent in batches (``SUBSCRIBE`` with up to :data:`BATCH` topics per
command, as Centrifugo does), and each ``subscribe`` returns once Redis has confirmed it.
One reader task waits for messages (no polling). When the connection comes back after an
outage, redis-py subscribes again to everything; the shard notices it (a topic confirmed a
second time without being asked for) and runs its reconnect callback once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..pubsub import PubSubHandler

log = logging.getLogger("pondsocket.redis")

#: Topics per SUBSCRIBE / UNSUBSCRIBE command.
BATCH = 512
#: A link silent for this many health-check intervals is taken for stalled.
SILENT_INTERVALS = 3
LINK_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
CONFIRMATIONS = {"subscribe": "c", "psubscribe": "p", "ssubscribe": "s"}
_GLOB_SPECIALS = "\\*?[]^"

# A subscription: ("c", topic) for SUBSCRIBE, ("p", glob) for PSUBSCRIBE, ("s", topic) for
# SSUBSCRIBE.
Key = tuple[str, str]


def to_glob(pattern: str) -> str:
    """A subscription pattern (exact topic, or ending with ``*``) as a Redis glob."""
    exact = pattern[:-1] if pattern.endswith("*") else pattern
    escaped = "".join(f"\\{c}" if c in _GLOB_SPECIALS else c for c in exact)
    return escaped + "*" if pattern.endswith("*") else escaped


def key_of(pattern: str, sharded: bool = False) -> Key:
    """The subscription of ``pattern``: a pattern one when it ends with ``*``; with
    ``sharded``, a shard channel (sharded pub/sub has no patterns: ``ValueError``)."""
    if sharded:
        if pattern.endswith("*"):
            raise ValueError(f"Redis Cluster sharded pub/sub has no patterns: {pattern!r}")
        return ("s", pattern)
    return ("p", to_glob(pattern)) if pattern.endswith("*") else ("c", pattern)


def slot_of(name: str | bytes) -> int:
    """The Redis Cluster hash slot of a channel name."""
    return key_slot(name.encode() if isinstance(name, str) else name)


def same_slot(keys: list[Key]) -> list[Key]:
    """The first of ``keys`` and those after it in the same hash slot (at most BATCH):
    one SSUBSCRIBE may name channels of one slot only."""
    if not keys:
        return []
    slot = slot_of(keys[0][1])
    return [k for k in keys if slot_of(k[1]) == slot][:BATCH]


class SlotPubSub(PubSub):
    """redis-py's pub/sub connection, re-subscribing its shard channels one hash slot at a
    time after a reconnect (one SSUBSCRIBE may name the channels of one slot only)."""

    async def _resubscribe_shard_channels(self) -> None:
        groups: dict[int, list[Any]] = {}
        for name in list(self.shard_channels):
            groups.setdefault(slot_of(name), []).append(name)
        for names in groups.values():
            await self.execute_command("SSUBSCRIBE", *names)


class RedisShard:
    """The subscriptions and publishing of one Redis client (see the module docstring)."""

    def __init__(self, client: Redis, *, max_backoff: float, interval: float | None,
                 on_reconnect: Callable[[], Awaitable[None]], sharded: bool = False) -> None:
        self.client = client
        self.sharded = sharded
        self._max_backoff = max_backoff
        self._interval = interval
        self._on_reconnect = on_reconnect
        self._pubsub: Any = None
        self._handlers: dict[Key, tuple[str, PubSubHandler]] = {}  # wanted: (pattern, handler)
        self._sent: set[Key] = set()  # SUBSCRIBE sent and no UNSUBSCRIBE since
        self._to_sub: dict[Key, None] = {}  # ordered sets of what the flusher sends next
        self._to_unsub: dict[Key, None] = {}
        self._confirmed: set[Key] = set()
        self._reconfirming: set[Key] = set()  # re-subscribed by redis-py, not confirmed yet
        self._waiters: dict[Key, list[asyncio.Future[None]]] = {}
        self._kick = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.connected = False  # True while the subscription is live
        self.reconnects = 0

    @property
    def wanted(self) -> int:
        """How many subscriptions this shard holds (or is making)."""
        return len(self._handlers)

    @property
    def healthy(self) -> bool:
        """Connected, or nothing to be connected for."""
        return self.connected or not self._handlers

    async def subscribe(self, pattern: str, handler: PubSubHandler) -> None:
        """Subscribe to ``pattern`` (batched with others) and return once Redis confirmed it
        (waits while Redis is down)."""
        key = key_of(pattern, self.sharded)
        self._handlers[key] = (pattern, handler)
        self._to_unsub.pop(key, None)
        if key in self._confirmed:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(waiter)
        if key not in self._sent:
            self._to_sub[key] = None
        self._wake()
        await waiter

    def unsubscribe(self, pattern: str) -> None:
        """Stop delivering ``pattern``'s messages now; the UNSUBSCRIBE goes with the next
        batch."""
        key = key_of(pattern, self.sharded)
        if self._handlers.pop(key, None) is None:
            return
        self._to_sub.pop(key, None)
        self._resolve(key)
        if key in self._sent:
            self._to_unsub[key] = None
            self._wake()

    async def close(self) -> None:
        self._closed = True
        for task in (self._flusher, self._reader):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for key in list(self._waiters):
            self._resolve(key)
        if self._pubsub is not None:
            with contextlib.suppress(*LINK_ERRORS):
                await self._pubsub.aclose()

    # -- sending subscriptions -------------------------------------------------------------

    def _wake(self) -> None:
        self._kick.set()
        if self._flusher is None and not self._closed:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_forever())

    async def _flush_forever(self) -> None:
        backoff = 0.05
        while not self._closed:
            await self._kick.wait()
            self._kick.clear()
            while self._to_sub or self._to_unsub:
                try:
                    await self._flush_once()
                except LINK_ERRORS as exc:
                    log.warning("redis subscribe failed (%s); retrying in %.2fs", exc, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
                    continue
                backoff = 0.05

    async def _flush_once(self) -> None:
        """Send one batch of unsubscriptions, then one of subscriptions, per kind."""
        if self._pubsub is None:
            self._pubsub = SlotPubSub(self.client.connection_pool)
        for kind, sub, unsub in (("c", "subscribe", "unsubscribe"),
                                 ("p", "psubscribe", "punsubscribe"),
                                 ("s", "ssubscribe", "sunsubscribe")):
            if kind == "s":
                gone = same_slot([k for k in self._to_unsub if k[0] == kind])
                new = same_slot([k for k in self._to_sub if k[0] == kind])
            else:
                gone = [k for k in self._to_unsub if k[0] == kind][:BATCH]
                new = [k for k in self._to_sub if k[0] == kind][:BATCH]
            if gone:
                await getattr(self._pubsub, unsub)(*[name for _, name in gone])
                for key in gone:
                    self._to_unsub.pop(key, None)
                    self._sent.discard(key)
                    self._confirmed.discard(key)
            if new:
                await getattr(self._pubsub, sub)(*[name for _, name in new])
                for key in new:
                    self._to_sub.pop(key, None)
                    self._sent.add(key)
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())


    def _resolve(self, key: Key) -> None:
        for waiter in self._waiters.pop(key, []):
            if not waiter.done():
                waiter.set_result(None)

    # -- reading ---------------------------------------------------------------------------

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.05
        heard = pinged = loop.time()
        while not self._closed:
            try:
                message = await self._next_message()
            except LINK_ERRORS as exc:
                self._lost()
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
            if self._interval is None or not self._sent:
                heard = now
                continue
            if now - heard > self._interval * SILENT_INTERVALS:
                await self._drop_stalled(now - heard)
                heard = now
            elif now - pinged >= self._interval and self.connected:
                pinged = now
                # The pong comes back as a message. Bounded: redis-py retries a refused
                # connection with backoff, which would hold the reader for seconds.
                try:
                    async with asyncio.timeout(self._interval):
                        await self._pubsub.ping()
                except (*LINK_ERRORS, TimeoutError):
                    self._lost()

    async def _next_message(self) -> Any:
        """The next message, or None after ``health_check_interval`` without one."""
        if not self._sent:
            await asyncio.sleep(self._interval or 0.5)  # nothing to read
            return None
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
        if kind == "message":
            entry = self._handlers.get(("c", _text(message["channel"])))
        elif kind == "pmessage":
            entry = self._handlers.get(("p", _text(message["pattern"])))
        elif kind == "smessage":
            entry = self._handlers.get(("s", _text(message["channel"])))
        else:
            if kind in CONFIRMATIONS:
                await self._confirmed_one((CONFIRMATIONS[kind], _text(message["channel"])))
            return
        if entry is not None:
            try:
                await entry[1](_text(message["channel"]), message["data"])
            except Exception:
                log.exception("pub/sub handler for %s failed", entry[0])

    async def _confirmed_one(self, key: Key) -> None:
        """Redis confirmed a subscription: one we asked for, or one redis-py made again on
        a new connection (then the connection was lost: resynchronise once)."""
        self.connected = True
        if key not in self._handlers and key not in self._to_unsub:
            # Unsubscribed meanwhile, and subscribed again by a reconnect: undo it.
            self._sent.add(key)
            self._to_unsub[key] = None
            self._wake()
        if key not in self._confirmed:
            self._confirmed.add(key)
            self._resolve(key)
            return
        if key in self._reconfirming:
            self._reconfirming.discard(key)
            return
        self._reconfirming = self._confirmed - {key}
        await self._resubscribed()

    async def _resubscribed(self) -> None:
        self.reconnects += 1
        log.info("redis subscription re-established (%d subscriptions)", len(self._confirmed))
        try:
            await self._on_reconnect()
        except Exception:
            log.exception("reconnect callback failed")

    def _lost(self) -> None:
        self.connected = False
        self._reconfirming = set()

    async def _drop_stalled(self, silent: float) -> None:
        """Nothing heard for ``silent`` seconds: drop the connection; the next read opens a
        new one and subscribes again (the confirmations tell a reconnect)."""
        if self.connected:
            log.warning("redis subscription silent for %.1fs (stalled link?); reconnecting",
                        silent)
        self._lost()
        connection = self._pubsub.connection
        if connection is not None:
            await connection.disconnect(nowait=True)

    # -- publishing ------------------------------------------------------------------------

    async def publish(self, topic: str, data: bytes) -> None:
        send = self.client.spublish if self.sharded else self.client.publish
        if self._interval is None:
            await send(topic, data)
            return
        limit = self._interval * SILENT_INTERVALS
        try:
            # On timeout redis-py drops the connection: the retry gets a new one.
            async with asyncio.timeout(limit):
                await send(topic, data)
        except TimeoutError:
            raise RedisTimeoutError(f"no answer from Redis to PUBLISH within {limit:g}s"
                                    ) from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


__all__ = ["BATCH", "CONFIRMATIONS", "LINK_ERRORS", "SILENT_INTERVALS", "Key", "RedisShard",
           "SlotPubSub",
           "key_of", "same_slot", "slot_of", "to_glob"]
