"""Channels spread over three standalone redis-servers (RedisPubSub over several clients):
jump hashing places each channel topic on one shard, the node-wide topics on the first;
nodes share channels on every shard; one shard restarting alone delays its channels' traffic
and loses nobody. (The process-level failure scenarios run sharded too, in
test_redis_processes.py.)"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from pondsocket.distributed import RedisPubSub
from pondsocket.distributed.jump import jump_hash, shard_of
from tests.cluster.frames import is_message, is_presence
from tests.cluster.inproc import Node, wait_until
from tests.cluster.procs import RedisServer

pytestmark = pytest.mark.timeout(60)

TOPIC = "pondsocket:v1:default:socket:{}"


def test_jump_hash_is_stable_and_moves_little() -> None:
    # Fixed values: every process, on every machine, places a topic on the same shard.
    # (Pinned: a change here moves channels between shards in a rolling upgrade.)
    assert [jump_hash(k, 10) for k in (0, 1, 2**40, 2**63)] == [0, 6, 9, 5]
    assert [shard_of(TOPIC.format(f"/chat/{i}"), 5) for i in range(6)] == [2, 4, 0, 1, 1, 1]
    assert jump_hash(0, 1) == 0
    with pytest.raises(ValueError):
        jump_hash(1, 0)
    topics = [TOPIC.format(f"/chat/{i}") for i in range(3000)]
    spread = Counter(shard_of(t, 3) for t in topics)
    assert set(spread) == {0, 1, 2} and min(spread.values()) > 800, spread
    # From 3 shards to 4 only about a quarter of the topics move, all to the new shard.
    moved = [t for t in topics if shard_of(t, 3) != shard_of(t, 4)]
    assert all(shard_of(t, 4) == 3 for t in moved)
    assert 0.15 < len(moved) / len(topics) < 0.35


@pytest.fixture
def shards(redis_server: RedisServer, spare_redis: list[RedisServer]) -> list[RedisServer]:
    return [redis_server, *spare_redis]


@pytest.fixture
def sharded_nodes(shards: list[RedisServer],
                  make_node: Callable[..., Node]) -> Callable[..., Node]:
    """``make(name, **options)``: an in-process node over three real redis-servers."""

    def make(name: str, **options: Any) -> Node:
        pubsub = RedisPubSub([Redis.from_url(s.url) for s in shards], owns_client=True,
                             health_check_interval=0.2)
        return make_node(name, pubsub=pubsub, **options)

    return make


@pytest.fixture
async def admins(shards: list[RedisServer]) -> AsyncIterator[list[Redis]]:
    clients = [Redis.from_url(s.url) for s in shards]
    yield clients
    for client in clients:
        await client.aclose()


def room_on(shard: int, count: int = 3) -> str:
    """A channel name whose topic lives on ``shard`` of ``count``."""
    return next(f"/chat/{i}" for i in range(1000)
                if shard_of(TOPIC.format(f"/chat/{i}"), count) == shard)


async def numsub(admin: Redis, topic: str) -> int:
    return int((await admin.pubsub_numsub(topic))[0][1])


async def test_each_channel_topic_lives_on_its_shard(sharded_nodes: Callable[..., Node],
                                                     admins: list[Redis]) -> None:
    node = sharded_nodes("n1")
    await node.pond.start()
    pubsub = node.pubsub
    for shard in range(3):
        room = room_on(shard)
        channel = await node.lobby.get_or_create_channel(room)
        await node.cluster.subscribed(channel)
        topic = node.cluster.channel_topic(channel)
        assert pubsub.shard_index(topic) == shard
        assert pubsub.client_for(topic) is pubsub.clients[shard]
        assert [await numsub(admin, topic) for admin in admins] == [
            int(i == shard) for i in range(3)]
    for topic in node.cluster.node_topics():  # heartbeats, admin, SSE relay: shard 0
        assert pubsub.shard_index(topic) == 0
        assert [await numsub(admin, topic) for admin in admins] == [1, 0, 0], topic


async def test_nodes_share_channels_on_every_shard(sharded_nodes: Callable[..., Node]) -> None:
    n1, n2 = sharded_nodes("n1"), sharded_nodes("n2")
    for shard in range(3):
        room = room_on(shard)
        a = await n1.join(f"a{shard}", channel=room)
        b = await n2.join(f"b{shard}", channel=room)
        await a.wait_presence({f"a{shard}", f"b{shard}"})
        await b.send("message", {"id": room}, channel=room)
        await a.wait_for(is_message(id=room))


async def test_a_node_listing_the_shards_otherwise_is_reported_once(
        shards: list[RedisServer], make_node: Callable[..., Node],
        caplog: pytest.LogCaptureFixture) -> None:
    # Heartbeats meet on the first shard; the channels would not, on the two swapped ones.
    def node(name: str, order: list[int]) -> Node:
        pubsub = RedisPubSub([Redis.from_url(shards[i].url) for i in order], owns_client=True)
        return make_node(name, pubsub=pubsub, heartbeat_interval=0.1, heartbeat_timeout=1)

    n1, n2, swapped = node("n1", [0, 1, 2]), node("n2", [0, 1, 2]), node("swapped", [0, 2, 1])
    with caplog.at_level(logging.WARNING, "pondsocket.cluster"):
        for each in (n1, n2, swapped):
            await each.pond.start()
        # a few heartbeats of each: the warning comes once per peer, not per heartbeat
        await wait_until(lambda: min(n.cluster.published for n in (n1, n2, swapped)) >= 4,
                         what="a few heartbeats")
    warned = [r.getMessage() for r in caplog.records
              if "lists other Redis shards" in r.getMessage()]
    assert sorted(w.split()[1] for w in warned) == ["n1", "n2", "swapped", "swapped"], warned
    layout = ", ".join(f"127.0.0.1:{shards[i].port}/0" for i in (0, 2, 1))
    assert all(layout in w for w in warned), warned


async def test_one_shard_restarting_alone_loses_nobody(sharded_nodes: Callable[..., Node],
                                                       shards: list[RedisServer]) -> None:
    n1, n2 = sharded_nodes("n1"), sharded_nodes("n2")
    hit, calm = room_on(1), room_on(2)
    a = await n1.join("a", channel=hit)
    b = await n2.join("b", channel=hit)
    c = await n1.join("c", channel=calm)
    d = await n2.join("d", channel=calm)
    await a.wait_presence({"a", "b"})
    await c.wait_presence({"c", "d"})
    await shards[1].astop()
    await wait_until(lambda: not n1.pubsub.connected and not n2.pubsub.connected,
                     what="both nodes lost shard 1")
    # The other shards carry on meanwhile.
    await c.send("message", {"id": "calm"}, channel=calm)
    await d.wait_for(is_message(id="calm"))
    await a.send("message", {"id": "during"}, channel=hit)  # kept in n1's outbox
    await shards[1].astart()
    await b.wait_for(is_message(id="during"), timeout=15)
    await b.send("message", {"id": "after"}, channel=hit)
    await a.wait_for(is_message(id="after"), timeout=10)
    for client in (a, b, c, d):
        assert not [f for f in client.seen if is_presence("LEAVE")(f)], client.log()
    assert Counter(f["payload"].get("id") for f in b.seen if is_message()(f))["during"] == 1
