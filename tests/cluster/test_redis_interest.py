"""Interest routing over a real redis-server: a node subscribes to a channel's topic only
while it serves the channel (from its first local join, which waits for Redis to confirm
the subscription, to its last local leave), in batches, and subscribes again to all of them
after Redis restarts. A node without members in a channel hears none of its traffic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from pondsocket.distributed import RedisPubSub
from tests.cluster.frames import is_message
from tests.cluster.inproc import Node, wait_until
from tests.cluster.procs import RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def redis_nodes(redis_server: RedisServer,
                make_node: Callable[..., Node]) -> Callable[..., Node]:
    """``make(name, **options)``: an in-process node over the test's real Redis. (Redis is
    requested before ``make_node`` so that the nodes close while it is still up.)"""

    def make(name: str, **options: Any) -> Node:
        pubsub = RedisPubSub(Redis.from_url(redis_server.url), owns_client=True,
                             health_check_interval=0.2)
        return make_node(name, pubsub=pubsub, **options)

    return make


@pytest.fixture
async def admin(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


async def subscribers(admin: Redis, topic: str) -> int:
    counts = await admin.pubsub_numsub(topic)
    return int(counts[0][1])


async def test_a_channel_topic_is_subscribed_from_the_first_join_to_the_last_leave(
        redis_nodes: Callable[..., Node], admin: Redis) -> None:
    node = redis_nodes("n1")
    await node.pond.start()
    topic = "pondsocket:v1:default:socket:/chat/1"
    assert await subscribers(admin, topic) == 0
    a = await node.join("a")
    # The join was acknowledged after Redis confirmed the subscription.
    assert await subscribers(admin, topic) == 1
    b = await node.join("b")
    await a.leave()
    assert await subscribers(admin, topic) == 1  # b is still a member
    await b.leave()
    await wait_until(lambda: topic not in node.cluster.topics, what="the channel closed")
    await asyncio.wait_for(_until_unsubscribed(admin, topic), 5)
    # The node-wide topics stay: heartbeats, admin and SSE relays.
    for node_topic in node.cluster.node_topics():
        assert await subscribers(admin, node_topic) == 1, node_topic


async def _until_unsubscribed(admin: Redis, topic: str) -> None:
    while await subscribers(admin, topic):
        await asyncio.sleep(0.02)  # the UNSUBSCRIBE goes with the next batch


async def test_subscribed_awaits_the_confirmation(redis_nodes: Callable[..., Node],
                                                 admin: Redis) -> None:
    node = redis_nodes("n1")
    channel = await node.lobby.get_or_create_channel("/chat/history")
    await node.cluster.subscribed(channel)
    assert await subscribers(admin, node.cluster.channel_topic(channel)) == 1
    await node.cluster.subscribed(channel)  # again: at once


async def test_subscriptions_are_sent_in_batches(redis_nodes: Callable[..., Node],
                                                 admin: Redis) -> None:
    node = redis_nodes("n1")
    await node.pond.start()
    await admin.config_resetstat()
    channels = [await node.lobby.get_or_create_channel(f"/chat/{i}") for i in range(600)]
    await asyncio.gather(*(node.cluster.subscribed(c) for c in channels))
    stats = await admin.info("commandstats")
    # 600 topics: two or three SUBSCRIBE commands (512 at most each), not 600.
    assert stats["cmdstat_subscribe"]["calls"] <= 3, stats["cmdstat_subscribe"]
    numsub = await admin.pubsub_numsub(*[node.cluster.channel_topic(c) for c in channels])
    assert all(count == 1 for _, count in numsub)


async def test_a_node_hears_nothing_of_channels_it_does_not_serve(
        redis_nodes: Callable[..., Node]) -> None:
    n1, n2 = redis_nodes("n1"), redis_nodes("n2")
    a = await n1.join("a", channel="/chat/busy")
    a2 = await n1.join("a2", channel="/chat/busy")
    b = await n2.join("b", channel="/chat/quiet")
    await a2.wait_presence({"a", "a2"})
    before = n2.cluster.received
    for i in range(50):
        await a.send("message", {"i": i}, channel="/chat/busy")
    await a2.wait_for(is_message(i=49))
    await b.send("message", {"fence": "quiet"}, channel="/chat/quiet")
    await b.wait_for(is_message(fence="quiet"))
    # n2 may hear heartbeats meanwhile, never the 50 broadcasts of /chat/busy.
    assert n2.cluster.received - before < 5


async def test_every_channel_is_subscribed_again_after_a_redis_restart(
        redis_nodes: Callable[..., Node], redis_server: RedisServer, admin: Redis) -> None:
    n1, n2 = redis_nodes("n1"), redis_nodes("n2")
    rooms = [f"/chat/r{i}" for i in range(3)]
    senders = [await n1.join(f"a{i}", channel=room) for i, room in enumerate(rooms)]
    readers = [await n2.join(f"b{i}", channel=room) for i, room in enumerate(rooms)]
    for i, reader in enumerate(readers):
        await reader.wait_presence({f"a{i}", f"b{i}"})
    await asyncio.to_thread(redis_server.restart)
    await wait_until(lambda: n1.pubsub.reconnects and n2.pubsub.reconnects, timeout=15,
                     what="both nodes resubscribed")
    for sender, reader, room in zip(senders, readers, rooms, strict=True):
        await sender.send("message", {"after": room}, channel=room)
        await reader.wait_for(is_message(after=room), timeout=10)
    topics = [f"pondsocket:v1:default:socket:{room}" for room in rooms]
    assert [count for _, count in await admin.pubsub_numsub(*topics)] == [2, 2, 2]
