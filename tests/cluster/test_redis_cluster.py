"""The cluster over a real three-master Redis Cluster, through sharded pub/sub (SSUBSCRIBE /
SPUBLISH): each channel topic on the master of its hash slot, subscribed while served;
nodes share channels on every master; one master restarting alone loses nobody; a
SIGKILLed node's users leave within 10 s with the default options."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from pondsocket.distributed import RedisPubSub
from pondsocket.distributed.shard import slot_of
from tests.cluster.frames import is_message, is_presence
from tests.cluster.inproc import Node, wait_until
from tests.cluster.procs import NodeProcess, RedisClusterServers, WSClient

pytestmark = pytest.mark.timeout(90)

TOPIC = "pondsocket:v1:default:socket:{}"


@pytest.fixture
def cluster_nodes(redis_cluster: RedisClusterServers,
                  make_node: Callable[..., Node]) -> Callable[..., Node]:
    """``make(name, **options)``: an in-process node over the three-master Redis Cluster."""

    def make(name: str, **options: Any) -> Node:
        pubsub = RedisPubSub(RedisCluster.from_url(redis_cluster.url), owns_client=True,
                             health_check_interval=0.2)
        return make_node(name, pubsub=pubsub, **options)

    return make


async def master_of(redis_cluster: RedisClusterServers, topic: str) -> int:
    """The index (in ``redis_cluster.servers``) of the master owning ``topic``'s slot."""
    slot = slot_of(topic)
    client = Redis(port=redis_cluster.ports[0])
    try:
        for start, end, master, *_ in await client.execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return redis_cluster.ports.index(int(master[1]))
    finally:
        await client.aclose()
    raise AssertionError(f"slot {slot} not covered")


def room_on(index: int, masters: list[int]) -> str:
    return next(f"/chat/{i}" for i, m in enumerate(masters) if m == index)


async def masters_of_rooms(redis_cluster: RedisClusterServers, count: int = 60) -> list[int]:
    return [await master_of(redis_cluster, TOPIC.format(f"/chat/{i}")) for i in range(count)]


async def shard_numsub(port: int, topic: str) -> int:
    client = Redis(port=port)
    try:
        reply = await client.execute_command("PUBSUB", "SHARDNUMSUB", topic)
        return int(reply[1])
    finally:
        await client.aclose()


async def test_each_channel_is_subscribed_on_its_slots_master(
        cluster_nodes: Callable[..., Node], redis_cluster: RedisClusterServers) -> None:
    node = cluster_nodes("n1")
    await node.pond.start()
    masters = await masters_of_rooms(redis_cluster)
    for index in range(3):
        room = room_on(index, masters)
        client = await node.join(f"u{index}", channel=room)
        topic = TOPIC.format(room)
        assert [await shard_numsub(port, topic) for port in redis_cluster.ports] == [
            int(i == index) for i in range(3)]
        await client.leave(channel=room)
        await wait_until(lambda t=topic: t not in node.cluster.topics, what="channel closed")
    assert node.pubsub.client_for(TOPIC.format("/chat/0")) is not None


async def test_nodes_share_channels_on_every_master(cluster_nodes: Callable[..., Node],
                                                    redis_cluster: RedisClusterServers) -> None:
    n1, n2 = cluster_nodes("n1"), cluster_nodes("n2")
    masters = await masters_of_rooms(redis_cluster)
    for index in range(3):
        room = room_on(index, masters)
        a = await n1.join(f"a{index}", channel=room)
        b = await n2.join(f"b{index}", channel=room)
        await a.wait_presence({f"a{index}", f"b{index}"})
        await b.send("message", {"id": room}, channel=room)
        await a.wait_for(is_message(id=room))


async def test_one_master_restarting_alone_loses_nobody(
        cluster_nodes: Callable[..., Node], redis_cluster: RedisClusterServers) -> None:
    n1, n2 = cluster_nodes("n1"), cluster_nodes("n2")
    heartbeat_master = await master_of(redis_cluster, n1.cluster.node_topics()[0])
    masters = await masters_of_rooms(redis_cluster)
    hit = next(i for i in range(3) if i != heartbeat_master)
    room = room_on(hit, masters)
    a = await n1.join("a", channel=room)
    b = await n2.join("b", channel=room)
    await a.wait_presence({"a", "b"})
    server = redis_cluster.servers[hit]
    try:
        await server.astop()
        await wait_until(lambda: not n1.pubsub.connected, timeout=10,
                         what="n1 lost the master")
        await a.send("message", {"id": "during"}, channel=room)  # kept in n1's outbox
    finally:
        if not server.running:
            await server.astart()
    await asyncio.to_thread(redis_cluster.wait_ok)
    await b.wait_for(is_message(id="during"), timeout=20)
    await b.send("message", {"id": "after"}, channel=room)
    await a.wait_for(is_message(id="after"), timeout=10)
    for client in (a, b):
        assert not [f for f in client.seen if is_presence("LEAVE")(f)], client.log()


async def test_with_defaults_a_killed_nodes_users_leave_within_10_s(
        redis_cluster: RedisClusterServers) -> None:
    env = {"redis_cluster": 1, "heartbeat_interval": "default",
           "heartbeat_timeout": "default"}
    nodes = [NodeProcess(f"rc{i}", redis_cluster.url, env) for i in range(2)]
    clients: list[WSClient] = []
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            await node.wait_ready()
        alice = await WSClient.open(nodes[0], "alice")
        bob = await WSClient.open(nodes[1], "bob")
        clients = [alice, bob]
        await alice.join("/chat/lobby", "alice")
        await bob.join("/chat/lobby", "bob")
        await alice.wait_presence({"alice", "bob"})
        await bob.send("/chat/lobby", "message", {"id": "last words"})
        await alice.wait_for(is_message(id="last words"))
        nodes[1].kill()
        killed = time.monotonic()
        frame, _ = await alice.wait_for(is_presence("LEAVE"), timeout=15)
        assert frame["payload"]["changed"]["name"] == "bob"
        at = next(t for t, seen in alice.seen if seen is frame)
        print(f"bob left {at - killed:.2f}s after the SIGKILL (Redis Cluster)")
        assert at - killed <= 10.0
    finally:
        for client in clients:
            await client.close()
        await asyncio.gather(*(asyncio.to_thread(node.stop) for node in nodes))
        for node in nodes:
            node.print_log_tail()
