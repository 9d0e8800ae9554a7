"""History in Redis Streams across two nodes: a client that reconnects to the other node
recovers what it missed; a Redis restart without persistence is a new epoch, reported as a
failed recovery. Real redis-server, two demo nodes under uvicorn, the SDK through a TCP
proxy on 127.0.0.1 that is cut and pointed at the other node."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from pondsocket import AllUsers
from pondsocket.distributed import RedisHistoryStore
from pondsocket.history import HistoryOptions, LobbyHistory
from pondsocket.positions import StreamPosition
from pondsocket_tools.client import ClientOptions, ConnectionState, PondClient
from pondsocket_tools.demo import ENDPOINT, create_app
from tests.cluster.procs import RedisServer, TcpProxy
from tests.sdkflow import send_and_see, until_state
from tests.servers import start_uvicorn

pytestmark = pytest.mark.timeout(60)
ROOM = "/chat/cluster-history"
FAST = {"backoff_initial": 0.05, "backoff_max": 0.3, "backoff_jitter": 0.0,
        "connect_timeout": 5.0, "join_timeout": 5.0}


@pytest.fixture
async def cluster(redis_server: RedisServer) -> Any:
    namespace = f"hist-{uuid.uuid4().hex[:8]}"
    nodes = [await start_uvicorn(create_app(redis_server.url, namespace=namespace),
                                 log_level="critical", timeout_graceful_shutdown=2)
             for _ in range(2)]
    proxy = TcpProxy(nodes[0].port)
    await proxy.start()
    clients: list[PondClient] = []

    def client(url: str, name: str) -> PondClient:
        made = PondClient(url, {"token": "demo", "name": name}, options=ClientOptions(**FAST))
        clients.append(made)
        return made

    yield nodes, proxy, client
    for made in clients:
        await made.close()
    await proxy.cut()
    for node in nodes:
        await node.stop()


async def test_reconnecting_to_the_other_node_recovers_then_a_redis_restart_is_reported(
        cluster, redis_server) -> None:
    nodes, proxy, client = cluster
    reader = client(f"ws://127.0.0.1:{proxy.port}{ENDPOINT}", "reader")
    sender = client(nodes[1].ws_url(ENDPOINT), "sender")
    chat = await reader.join(ROOM)
    inbox = chat.messages("message")
    failures: list[Any] = []
    chat.on_recovery_failed(failures.append)
    out = await sender.join(ROOM)
    while len(chat.presence) < 2:  # node 1 knows the sender: the cluster carries the room
        await chat.presence_events().get(10.0)
    await send_and_see(out, [f"m{i}" for i in range(10)])
    assert [(await inbox.get(10.0)).payload["text"] for _ in range(10)] == [
        f"m{i}" for i in range(10)]

    await proxy.cut()
    await until_state(reader, ConnectionState.DISCONNECTED)
    await send_and_see(out, [f"m{i}" for i in range(10, 30)])
    proxy.target_port = nodes[1].port  # the reader comes back on the other node
    await proxy.restore()
    got = [(await inbox.get(10.0)).payload["text"] for _ in range(20)]
    assert got == [f"m{i}" for i in range(10, 30)]
    assert chat.recovered is True and failures == [] and chat.offset == 30

    epoch = chat.epoch
    await proxy.cut()
    await until_state(reader, ConnectionState.DISCONNECTED)
    await asyncio.to_thread(redis_server.stop)
    await asyncio.to_thread(redis_server.start)  # the same port, nothing kept
    failed = asyncio.get_running_loop().create_future()
    chat.on_recovery_failed(lambda f: failed.done() or failed.set_result(f))
    await proxy.restore()
    failure = await asyncio.wait_for(failed, 20)
    assert failure.reason == "epoch changed", failure
    assert chat.recovered is False and chat.epoch != epoch


async def test_the_redis_store_numbers_trims_and_starts_a_new_epoch_when_lost(
        redis_server) -> None:
    redis = Redis.from_url(redis_server.url)
    try:
        # Two nodes' views of one stream: offsets are per channel across both.
        one, two = (LobbyHistory(HistoryOptions(size=5, recovery_limit=4),
                                 RedisHistoryStore(redis, prefix="t")) for _ in range(2))
        offsets = [await (one if i % 2 else two).append("/c/1", "e", {"i": i}, AllUsers(),
                                                           f"r{i}") for i in range(12)]
        assert offsets == list(range(1, 13))
        top = await one.position("/c/1")
        assert top.offset == 12 and top == await two.position("/c/1")
        kept = await two.read("/c/1")
        assert [e.offset for e in kept][-5:] == [8, 9, 10, 11, 12]
        assert kept[-1].payload == {"i": 11}
        ok = await one.recover("/c/1", StreamPosition(top.epoch, 9), "u")
        assert ok.recovered and [e.offset for e in ok.entries] == [10, 11, 12]
        assert (await one.recover("/c/1", StreamPosition(top.epoch, 2), "u")).reason == (
            "too many missed messages")
        await redis.flushall()  # as a restart without persistence
        lost = await one.recover("/c/1", StreamPosition(top.epoch, 12), "u")
        assert lost.reason == "epoch changed" and lost.position.offset == 0
    finally:
        await redis.aclose()


async def test_appends_go_on_after_the_server_lost_its_scripts(redis_server) -> None:
    # Appends call EVALSHA directly: a server without the script (SCRIPT FLUSH, a replica
    # promoted before it saw the script) gets it loaded, and the numbering goes on.
    redis = Redis.from_url(redis_server.url)
    try:
        history = LobbyHistory(HistoryOptions(size=5), RedisHistoryStore(redis, prefix="s"))
        assert await history.append("/c/1", "e", {"i": 0}, AllUsers(), "r0") == 1
        epoch = (await history.position("/c/1")).epoch
        await redis.script_flush()
        assert await history.append("/c/1", "e", {"i": 1}, AllUsers(), "r1") == 2
        await redis.script_flush()
        assert await history.position("/c/1") == StreamPosition(epoch, 2)
        assert [e.payload for e in await history.read("/c/1")] == [{"i": 0}, {"i": 1}]
    finally:
        await redis.aclose()
