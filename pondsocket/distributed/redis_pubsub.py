"""A :class:`~pondsocket.PubSub` over Redis pub/sub (``pip install "pondsocket[redis]"``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from ..pubsub import PubSubClosedError, PubSubHandler, is_node_wide_topic
from .jump import shard_of
from .shard import SILENT_INTERVALS, RedisShard, to_glob

log = logging.getLogger("pondsocket.redis")


def _address(client: Redis) -> str:
    """Where ``client`` connects, as configured: ``host:port/db`` or ``unix:path/db``."""
    kwargs = client.connection_pool.connection_kwargs
    db = kwargs.get("db", 0)
    if "path" in kwargs:
        return f"unix:{kwargs['path']}/{db}"
    return f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{db}"


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

    Given a ``redis.asyncio.cluster.RedisCluster``, it uses sharded pub/sub (``SSUBSCRIBE``
    and ``SPUBLISH``, Redis 7): each topic is carried by the master that owns its hash slot,
    through one subscribing connection per master (learnt from the cluster's slot map at the
    first use); the node-wide topics are placed by their slots as well.

    A link can also stall without any error (a firewall or NAT that forgot the flow, a
    congested network): every ``health_check_interval`` seconds each subscription sends a
    ``PING``, and when it has heard nothing (no message, no pong) for
    ``SILENT_INTERVALS`` intervals it drops the connection and subscribes again on a new
    one, counting as disconnected meanwhile. A ``publish`` that gets no answer within as
    long fails (and is retried). ``health_check_interval=None`` turns both off.
    """

    def __init__(self, redis_client: Redis | RedisCluster | Sequence[Redis], *,
                 owns_client: bool = False, max_backoff: float = 2.0,
                 health_check_interval: float | None = 1.0) -> None:
        if health_check_interval is not None and health_check_interval <= 0:
            raise ValueError("health_check_interval must be positive (or None)")
        self._cluster: RedisCluster | None = None
        if isinstance(redis_client, RedisCluster):
            self._cluster = redis_client
            clients: list[Redis] = []
        elif isinstance(redis_client, Redis):
            clients = [redis_client]
        else:
            clients = list(redis_client)
            if not clients:
                raise ValueError("RedisPubSub needs at least one Redis client")
        self._owns_client = owns_client
        self._max_backoff = max_backoff
        self._interval = health_check_interval
        self._reconnect_callbacks: list[Callable[[], Awaitable[None]]] = []
        self._shards = [self._new_shard(client) for client in clients]
        self._masters: dict[str, RedisShard] = {}  # Redis Cluster: by master "host:port"
        self._cluster_ready = False
        self._closed = False

    def _new_shard(self, client: Redis, sharded: bool = False) -> RedisShard:
        return RedisShard(client, max_backoff=self._max_backoff, interval=self._interval,
                          on_reconnect=self._reconnected, sharded=sharded)

    async def _shard_for(self, topic: str) -> RedisShard:
        if self._cluster is None:
            return self._shards[self.shard_index(topic)]
        if not self._cluster_ready:
            await self._cluster.initialize()
            self._cluster_ready = True
        node = self._cluster.get_node_from_key(topic)
        if node is None:
            raise RuntimeError(f"no Redis Cluster master serves the slot of {topic!r}")
        shard = self._masters.get(node.name)
        if shard is None:
            kwargs = node.connection_kwargs
            client = Redis(host=node.host, port=int(node.port), username=kwargs.get("username"),
                           password=kwargs.get("password"))
            shard = self._masters[node.name] = self._new_shard(client, sharded=True)
            self._shards.append(shard)
        return shard

    @property
    def clients(self) -> list[Redis]:
        """The Redis clients, in shard order (the first carries the node-wide topics)."""
        return [shard.client for shard in self._shards]

    @property
    def layout(self) -> list[str] | None:
        """The shards' addresses in shard order (``host:port/db``, or ``unix:path/db``),
        which every node must share: the cluster's heartbeats carry it, and a node whose
        peer lists other shards says so in its log. None over a Redis Cluster, where the
        slot map places the topics."""
        if self._cluster is not None:
            return None
        return [_address(shard.client) for shard in self._shards]

    @property
    def connected(self) -> bool:
        """True while every Redis that carries one of this node's subscriptions is live."""
        return all(shard.healthy for shard in self._shards)

    @property
    def reconnects(self) -> int:
        """How many times a subscription was re-established after an outage."""
        return sum(shard.reconnects for shard in self._shards)

    def shard_index(self, topic: str) -> int:
        """Which shard (index into :attr:`clients`) carries ``topic`` (standalone shards;
        ``ValueError`` over a Redis Cluster, where the topic's hash slot decides)."""
        if self._cluster is not None:
            raise ValueError("over a Redis Cluster the topic's hash slot decides its master")
        if is_node_wide_topic(topic):
            return 0
        return shard_of(topic, len(self._shards))

    def client_for(self, topic: str) -> Redis | RedisCluster:
        """The Redis client that carries ``topic``: keep data about a channel (its history
        stream, say) on the client of the channel's topic. Over a Redis Cluster it is the
        ``RedisCluster`` client itself: a key named after the topic (or with the topic as
        its hash tag) is on the topic's hash slot, so on the master that carries it."""
        if self._cluster is not None:
            return self._cluster
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
            if self._cluster is not None:
                raise ValueError(f"Redis Cluster sharded pub/sub has no patterns: {pattern!r}")
            await asyncio.gather(*(shard.subscribe(pattern, handler)
                                   for shard in self._shards))
        else:
            await (await self._shard_for(pattern)).subscribe(pattern, handler)

    async def unsubscribe(self, pattern: str) -> None:
        if pattern.endswith("*"):
            shards = [] if self._cluster is not None else self._shards
        else:
            shards = [await self._shard_for(pattern)]
        for shard in shards:
            shard.unsubscribe(pattern)

    async def publish(self, topic: str, data: bytes) -> None:
        if self._closed:
            raise PubSubClosedError()
        await (await self._shard_for(topic)).publish(topic, data)

    async def close(self) -> None:
        self._closed = True
        for shard in self._shards:
            await shard.close()
        if self._cluster is not None:
            for shard in self._shards:  # ours, whoever owns the cluster client
                await shard.client.aclose()
            if self._owns_client:
                await self._cluster.aclose()
        elif self._owns_client:
            for shard in self._shards:
                await shard.client.aclose()

    async def _reconnected(self) -> None:
        for callback in self._reconnect_callbacks:
            try:
                await callback()
            except Exception:
                log.exception("reconnect callback failed")


__all__ = ["SILENT_INTERVALS", "RedisPubSub", "to_glob"]
