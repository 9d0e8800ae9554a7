"""``pondctl serve --workers N --redis URL``: N uvicorn worker processes on one port form a
cluster over a real Redis, so two clients that landed on different workers share a channel;
``--redis`` alone makes one server a cluster node (either server); and what could not work
is refused with the reason."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.cluster.procs import RedisServer
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(90)

# Each connection is told which node (worker process) holds it.
APP = """\
from pondsocket import PondSocket
from pondsocket.asgi import PondASGIApp

pond = PondSocket()


async def accept(ctx):
    ctx.accept()
    ctx.reply("node", {"node": pond.node_id})


async def join(ctx):
    await ctx.accept()


async def shout(ctx):
    await ctx.broadcast("shout", ctx.payload)


rooms = pond.create_endpoint("/ws", accept).create_channel("/room/:id", join)
rooms.on_message("shout", shout)
app = PondASGIApp(pond)
"""


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def pondctl(app_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pondsocket_tools.cli", "serve", *args],
                          cwd=app_dir, capture_output=True, text=True, timeout=30)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return frame


async def open_client(port: int) -> tuple[ClientConnection, str]:
    """A connection and the node that holds it."""
    ws = await connect(f"ws://127.0.0.1:{port}/ws")
    assert (await recv(ws))["action"] == "CONNECT"
    hello = await recv(ws)
    assert hello["event"] == "node"
    return ws, hello["payload"]["node"]


async def join(ws: ClientConnection, channel: str) -> None:
    await ws.send(json.dumps({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                              "channelName": channel, "requestId": "j", "payload": {}}))
    ack = await recv(ws)
    assert (ack["action"], ack["event"]) == ("SYSTEM", "ACKNOWLEDGE"), ack


async def shout_until_heard(speaker: ClientConnection, listener: ClientConnection,
                            channel: str) -> dict[str, Any]:
    """Broadcast from ``speaker`` until ``listener`` hears it: the other node learns of the
    channel's members through Redis a moment after the join was acknowledged."""
    async with asyncio.timeout(20):
        for n in range(1000):
            await speaker.send(json.dumps({"action": "BROADCAST", "event": "shout",
                                           "channelName": channel, "requestId": f"s{n}",
                                           "payload": {"n": n}}))
            try:
                frame = json.loads(await asyncio.wait_for(listener.recv(), 0.5))
            except TimeoutError:
                continue
            if frame["event"] == "shout":
                return frame
    raise AssertionError("unreachable")


async def test_two_workers_share_a_channel_through_redis(app_dir: Path,
                                                         redis_server: RedisServer) -> None:
    server = ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve", "app:pond",
                            "--port", "{port}", "--workers", "2", "--redis", redis_server.url],
                           cwd=app_dir, log=app_dir / "serve.log", what="pondctl --workers 2")
    server.start()
    clients: list[ClientConnection] = []
    try:
        # The kernel hands each new connection to one of the workers: open until two differ.
        nodes: dict[str, ClientConnection] = {}
        async with asyncio.timeout(30):
            while len(nodes) < 2:
                ws, node = await open_client(server.port)
                clients.append(ws)
                nodes.setdefault(node, ws)
        first, second = nodes.values()
        await join(first, "/room/1")
        await join(second, "/room/1")
        heard = await shout_until_heard(first, second, "/room/1")
        assert heard["channelName"] == "/room/1"
        for ws in clients:
            await ws.close()
        clients.clear()
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=20) == 0
    finally:
        for ws in clients:
            await ws.close()
        server.stop()


async def test_redis_alone_makes_each_server_a_node(app_dir: Path,
                                                    redis_server: RedisServer) -> None:
    servers = [ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve",
                              "app:pond", "--port", "{port}", "--server", kind,
                              "--redis", redis_server.url], cwd=app_dir,
                             log=app_dir / f"{kind}.log", what=f"pondctl serve {kind}")
               for kind in ("uvicorn", "websockets")]
    clients: list[ClientConnection] = []
    try:
        for server in servers:
            server.start()
        (a, node_a), (b, node_b) = [await open_client(s.port) for s in servers]
        clients += [a, b]
        assert node_a != node_b
        await join(a, "/room/2")
        await join(b, "/room/2")
        assert (await shout_until_heard(b, a, "/room/2"))["channelName"] == "/room/2"
    finally:
        for ws in clients:
            await ws.close()
        for server in servers:
            server.stop()


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "2"], "--workers 2 needs --redis URL"),
    (["--workers", "2", "--redis", "redis://127.0.0.1:1", "--server", "websockets"],
     "--workers needs --server uvicorn: the direct server is one process"),
    (["--workers", "2", "--redis", "redis://127.0.0.1:1", "--reload"],
     "--workers and --reload cannot be combined"),
])
def test_workers_that_could_not_work_are_refused(app_dir: Path, args: list[str],
                                                 message: str) -> None:
    result = pondctl(app_dir, "app:pond", *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())


def test_redis_needs_a_pondsocket_target(app_dir: Path) -> None:
    result = pondctl(app_dir, "app:app", "--redis", "redis://127.0.0.1:1")
    assert result.returncode == 2
    assert "--redis gives a PondSocket a pub/sub" in " ".join(result.stderr.split())


def test_workers_on_a_taken_port_exit_3(app_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pondctl(app_dir, "app:pond", "--port", str(port), "--workers", "2",
                         "--redis", "redis://127.0.0.1:1")
    assert result.returncode == 3, result.stderr
