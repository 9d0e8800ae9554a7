"""A channel's history lives where its topic does: on the topic's shard over several
standalone redis-servers, on the topic's hash slot over a Redis Cluster
(``RedisHistoryStore.on_topics_of``), so a channel's traffic and its history fail and come
back together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from pondsocket import Options, PondSocket
from pondsocket.distributed import RedisHistoryStore, RedisPubSub
from pondsocket.history import HistoryOptions
from tests.cluster.procs import RedisClusterServers, RedisServer

pytestmark = pytest.mark.timeout(60)

ROOMS = [f"/chat/{i}" for i in range(12)]
OPTIONS = HistoryOptions()


async def accept(ctx: Any) -> None:
    ctx.accept()


async def join(ctx: Any) -> None:
    await ctx.accept()


def rooms_lobby(pubsub: RedisPubSub) -> Any:
    pond = PondSocket(pubsub=pubsub, options=Options(namespace="placement"))
    return pond.create_endpoint("/socket", accept).create_channel("/chat/:room", join)


@pytest.fixture
async def sharded(redis_server: RedisServer, spare_redis: list[RedisServer]
                  ) -> AsyncIterator[tuple[RedisPubSub, list[Redis]]]:
    servers = [redis_server, *spare_redis]
    pubsub = RedisPubSub([Redis.from_url(s.url) for s in servers], owns_client=True)
    probes = [Redis.from_url(s.url) for s in servers]
    yield pubsub, probes
    for probe in probes:
        await probe.aclose()
    await pubsub.close()


async def test_history_keys_sit_on_the_shard_of_the_channel_topic(sharded) -> None:
    pubsub, probes = sharded
    lobby = rooms_lobby(pubsub)
    store = RedisHistoryStore.on_topics_of(pubsub, lobby, prefix="placement")
    topic = {room: f"pondsocket:v1:placement:socket:{room}" for room in ROOMS}
    for room in ROOMS:
        assert await store.append(room, "message", {"room": room}, "r", "ALL_USERS", "",
                                  OPTIONS) == 1
    used = set()
    for room in ROOMS:
        home = pubsub.clients.index(pubsub.client_for(topic[room]))
        used.add(home)
        key = f"placement:{{{topic[room]}}}:log"
        assert [await p.exists(key) for p in probes] == [int(i == home) for i in range(3)]
        [entry] = await store.read(room, 0, 10, OPTIONS)
        assert (entry.offset, entry.payload) == (1, {"room": room})
    assert len(used) > 1  # the rooms really are spread, so the check above means something


async def test_over_a_redis_cluster_history_keys_share_the_topic_slot(
        redis_cluster: RedisClusterServers) -> None:
    pubsub = RedisPubSub(RedisCluster.from_url(redis_cluster.url), owns_client=True)
    try:
        lobby = rooms_lobby(pubsub)
        store = RedisHistoryStore.on_topics_of(pubsub, lobby, prefix="placement")
        for room in ROOMS[:4]:
            topic = f"pondsocket:v1:placement:socket:{room}"
            for key in ("epoch", "top", "log"):
                assert key_slot(f"placement:{{{topic}}}:{key}".encode()) == key_slot(
                    topic.encode())
            await store.append(room, "message", {"n": 1}, "r", "ALL_USERS", "", OPTIONS)
            await store.append(room, "message", {"n": 2}, "r", "ALL_USERS", "", OPTIONS)
            position = await store.position(room, OPTIONS)
            assert position.offset == 2
            entries = await store.read(room, 1, 10, OPTIONS)
            assert [(e.offset, e.payload) for e in entries] == [(2, {"n": 2})]
    finally:
        await pubsub.close()
