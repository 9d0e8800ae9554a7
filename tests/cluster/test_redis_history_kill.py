"""The issue's worst case for recovery: the node that served a client is SIGKILLed while the
sender, on the other node, goes on; the client reconnects to the surviving node and recovers
everything from the shared history in Redis. Two ``pondctl demo --redis`` processes, a real
redis-server, the SDK through a TCP proxy on 127.0.0.1 that is pointed at the survivor."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid

import pytest

from pondsocket_tools.client import ClientOptions, ConnectionState, PondClient
from pondsocket_tools.demo import ENDPOINT
from tests.cluster.procs import RedisServer, TcpProxy
from tests.cluster.test_redis_history import FAST
from tests.sdkflow import until_state
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)
ROOM = "/chat/killed-node"


def demo_node(redis_url: str, namespace: str) -> ServerProcess:
    return ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "demo", "--port",
                          "{port}", "--redis", redis_url, "--namespace", namespace],
                         what="pondctl demo")


async def test_a_client_of_a_killed_node_recovers_from_the_other_node(
        redis_server: RedisServer) -> None:
    namespace = f"kill-{uuid.uuid4().hex[:8]}"
    served, survivor = demo_node(redis_server.url, namespace), demo_node(redis_server.url,
                                                                         namespace)
    await served.astart()
    await survivor.astart()
    proxy = TcpProxy(served.port)
    await proxy.start()
    options = ClientOptions(**FAST)
    reader = PondClient(f"ws://127.0.0.1:{proxy.port}{ENDPOINT}",
                        {"token": "demo", "name": "reader"}, options=options)
    sender = PondClient(f"ws://127.0.0.1:{survivor.port}{ENDPOINT}",
                        {"token": "demo", "name": "sender"}, options=options)
    try:
        chat = await reader.join(ROOM)
        inbox = chat.messages("message")
        failures: list[object] = []
        chat.on_recovery_failed(failures.append)
        out = await sender.join(ROOM)
        while len(chat.presence) < 2:  # the room spans both nodes
            await chat.presence_events().get(10.0)
        for i in range(10):
            await out.send("message", {"text": f"m{i}"})
        assert [(await inbox.get(10.0)).payload["text"] for _ in range(10)] == [
            f"m{i}" for i in range(10)]

        await served.astop(signal.SIGKILL)
        await until_state(reader, ConnectionState.DISCONNECTED)
        echo = out.messages("message")
        for i in range(10, 30):
            await out.send("message", {"text": f"m{i}"})
        for _ in range(20):  # the survivor published them: they are in the shared stream
            await echo.get(10.0)
        proxy.target_port = survivor.port
        await until_state(reader, ConnectionState.CONNECTED)
        got = [(await inbox.get(10.0)).payload["text"] for _ in range(20)]
        assert got == [f"m{i}" for i in range(10, 30)]
        assert chat.recovered is True and failures == [] and chat.offset == 30
        with pytest.raises(asyncio.TimeoutError):  # exactly once: nothing more arrives
            await inbox.get(0.5)
    finally:
        await reader.close()
        await sender.close()
        await proxy.cut()
        await served.astop(signal.SIGKILL)
        await survivor.astop()
