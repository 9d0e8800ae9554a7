"""A :class:`~pondsocket.PubSub` over Redis pub/sub (``pip install "pondsocket[redis]"``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis

from ..pubsub import PubSubClosedError, PubSubHandler, is_node_wide_topic
from .jump import shard_of
from .shard import SILENT_INTERVALS, RedisShard, to_glob

log = logging.getLogger("pondsocket.redis")


class RedisPubSub:
    """Redis pub/sub for a cluster of PondSocket nodes, over one Redis or several.

    A cluster node subscribes to each channel's topic only while it has members there
    (``SUBSCRIBE``, batched up to 512 topics a command), plus its node-wide topics; one
    reader task per Redis waits for messages - no polling. ``subscribe`` returns once Redis
    confirmed the subscription. When Redis goes away the reader retries with backoff;
    redis-py subscribes again on reconnect, and the callbacks given to :meth:`on_reconnect`
    run so that the cluster resynchronises what it missed. ``publish`` raises while Redis
    is down (the cluster's outbox retries). With ``owns_client`` the Redis clients are
    closed by :meth:`close`.

    Given several clients (``RedisPubSub([r1, r2, r3])``), each channel topic lives on one
    of them, chosen by jump consistent hashing of the topic (:meth:`client_for`); the
    node-wide topics (heartbeats, admin queries, SSE relays) all live on the first. Every
    node must list the same Redis servers in the same order.

    A link can also stall without any error (a firewall or NAT that forgot the flow, a
    congested network): every ``health_check_interval`` seconds each subscription sends a
    ``PING``, and when it has heard nothing (no message, no pong) for
    ``SILENT_INTERVALS`` intervals it drops the connection and subscribes again on a new
    one, counting as disconnected meanwhile. A ``publish`` that gets no answer within as
    long fails (and is retried). ``health_check_interval=None`` turns both off.
    """

    def __init__(self, redis_client: Redis | Sequence[Redis], *, owns_client: bool = False,
                 max_backoff: float = 2.0, health_check_interval: float | None = 1.0) -> None:
        if health_check_interval is not None and health_check_interval <= 0:
            raise ValueError("health_check_interval must be positive (or None)")
        clients = [redis_client] if isinstance(redis_client, Redis) else list(redis_client)
        if not clients:
            raise ValueError("RedisPubSub needs at least one Redis client")
        self._owns_client = owns_client
        self._reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._shards = [RedisShard(client, max_backoff=max_backoff,
                                   interval=health_check_interval,
                                   on_reconnect=self._reconnected) for client in clients]
        self._closed = False

    @property
    def clients(self) -> list[Redis]:
        """The Redis clients, in shard order (the first carries the node-wide topics)."""
        return [shard.client for shard in self._shards]

    @property
    def connected(self) -> bool:
        """True while every Redis that carries one of this node's subscriptions is live."""
        return all(shard.healthy for shard in self._shards)

    @property
    def reconnects(self) -> int:
        """How many times a subscription was re-established after an outage."""
        return sum(shard.reconnects for shard in self._shards)

    def shard_index(self, topic: str) -> int:
        """Which shard (index into :attr:`clients`) carries ``topic``."""
        if len(self._shards) == 1 or is_node_wide_topic(topic):
            return 0
        return shard_of(topic, len(self._shards))

    def client_for(self, topic: str) -> Redis:
        """The Redis client that carries ``topic``: keep data about a channel (its history
        stream, say) on the client of the channel's topic."""
        return self._shards[self.shard_index(topic)].client

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` each time a subscription is re-established after an outage."""
        self._reconnect_callbacks.append(callback)

    async def subscribe(self, pattern: str, handler: PubSubHandler) -> None:
        """Deliver the messages of topic ``pattern`` (or of every topic starting with it,
        when it ends with ``*``: on every shard) to ``handler(topic, data)``; returns once
        Redis confirmed the subscription."""
        if self._closed:
            raise PubSubClosedError()
        if pattern.endswith("*"):
            await asyncio.gather(*(shard.subscribe(pattern, handler)
                                   for shard in self._shards))
        else:
            await self._shards[self.shard_index(pattern)].subscribe(pattern, handler)

    async def unsubscribe(self, pattern: str) -> None:
        shards = self._shards if pattern.endswith("*") else [
            self._shards[self.shard_index(pattern)]]
        for shard in shards:
            shard.unsubscribe(pattern)

    async def publish(self, topic: str, data: bytes) -> None:
        if self._closed:
            raise PubSubClosedError()
        await self._shards[self.shard_index(topic)].publish(topic, data)

    async def close(self) -> None:
        self._closed = True
        for shard in self._shards:
            await shard.close()
        if self._owns_client:
            for shard in self._shards:
                await shard.client.aclose()

    async def _reconnected(self) -> None:
        for callback in self._reconnect_callbacks:
            try:
                await callback()
            except Exception:
                log.exception("reconnect callback failed")


__all__ = ["SILENT_INTERVALS", "RedisPubSub", "to_glob"]
