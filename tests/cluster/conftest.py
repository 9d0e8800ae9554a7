"""Fixtures for the cluster tests.

* In-process: ``make_node(name, **options)`` builds a PondSocket node on a shared
  :class:`~pondsocket.LocalBus` (``bus``), as several processes would share one Redis.
* Real processes: ``redis_server`` (a ``redis-server`` on a free port, restartable on that
  port), ``spawn_nodes`` (uvicorn processes serving ``tests/cluster/app.py``) and
  ``ws_client`` (``websockets`` clients that record every frame), ``redis_spy`` (a
  subscriber that records when each node's messages went by). Everything started is
  stopped at the end of the test, clients first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from pondsocket import LocalBus, LocalPubSub
from tests.cluster.inproc import Node
from tests.cluster.procs import (
    NodeProcess,
    RedisClusterServers,
    RedisServer,
    RedisSpy,
    TcpProxy,
    WSClient,
)


@pytest.fixture
async def bus() -> AsyncIterator[LocalBus]:
    yield LocalBus()


@pytest.fixture
async def make_node(bus: LocalBus) -> AsyncIterator[Callable[..., Node]]:
    nodes: list[Node] = []

    def factory(name: str, **options: Any) -> Node:
        node = Node(bus, name, **options)
        nodes.append(node)
        return node

    yield factory
    for node in nodes:
        await node.pond.close()


@pytest.fixture
async def spy(bus: LocalBus) -> AsyncIterator[LocalPubSub]:
    """A bare client of the bus: to watch and to inject raw node-to-node messages."""
    client = LocalPubSub(bus=bus)
    yield client
    await client.close()


@pytest.fixture(scope="session")
def spare_redis() -> Iterator[list[RedisServer]]:
    """Two more redis-servers (started once per session): shards 1 and 2 of a layout."""
    servers = [RedisServer(), RedisServer()]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A three-master Redis Cluster (started once per session)."""
    servers = RedisClusterServers()
    try:
        servers.start()
    except BaseException:
        servers.stop()
        raise
    yield servers
    servers.stop()


@pytest.fixture
def redis_layout() -> str:
    """``single``: the nodes use ``redis_server`` alone; ``sharded``: ``redis_server`` is
    shard 0 (the node-wide topics) of three (a module overrides this fixture to choose)."""
    return "single"


@pytest.fixture
def shard_urls(redis_layout: str, request: pytest.FixtureRequest) -> list[str | None]:
    """The Redis URLs of the layout, None standing for ``redis_server`` (or its proxy)."""
    if redis_layout == "single":
        return [None]
    spare = request.getfixturevalue("spare_redis")
    return [None, *(server.url for server in spare)]


@pytest.fixture
async def spawn_nodes(redis_server: RedisServer, shard_urls: list[str | None]
                      ) -> AsyncIterator[Callable[..., Any]]:
    """``await spawn_nodes(count, **env)``: uvicorn processes of tests.cluster.app, ready.
    ``redis_urls`` (one per node) replaces ``redis_server`` in the layout (a proxy, say)."""
    started: list[NodeProcess] = []

    async def spawn(count: int, redis_urls: list[str] | None = None,
                    **env: Any) -> list[NodeProcess]:
        urls = [",".join(url if shard is None else shard for shard in shard_urls)
                for url in redis_urls or [redis_server.url] * count]
        nodes = [NodeProcess(f"node{len(started) + i + 1}", urls[i], env)
                 for i in range(count)]
        started.extend(nodes)
        for node in nodes:
            node.start()
        for node in nodes:
            await node.wait_ready()
        return nodes

    yield spawn
    # In threads: the test's event loop must keep running (a TcpProxy relays in it).
    await asyncio.gather(*(asyncio.to_thread(node.stop) for node in started))
    for node in started:
        node.print_log_tail()


@pytest.fixture
async def ws_client(spawn_nodes: Any) -> AsyncIterator[Callable[..., Any]]:
    # Depends on spawn_nodes so that clients close before the servers stop.
    clients: list[WSClient] = []

    async def open_client(node: NodeProcess, label: str = "", query: str = "") -> WSClient:
        client = await WSClient.open(node, label, query)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
async def redis_proxy(redis_server: RedisServer) -> AsyncIterator[Callable[[], Any]]:
    """``await redis_proxy()``: a TcpProxy to the test's Redis (closed at the end)."""
    proxies: list[TcpProxy] = []

    async def make() -> TcpProxy:
        proxy = TcpProxy(redis_server.port)
        await proxy.start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.stop()


@pytest.fixture
async def redis_spy(redis_server: RedisServer, shard_urls: list[str | None]
                    ) -> AsyncIterator[RedisSpy]:
    """A :class:`RedisSpy` on every Redis of the layout, subscribed before the test starts."""
    spy = RedisSpy([redis_server.url if shard is None else shard for shard in shard_urls])
    await spy.start()
    yield spy
    await spy.stop()
