"""Real processes for the cluster tests: a restartable ``redis-server``, uvicorn nodes
serving ``tests/cluster/app.py``, and ``websockets`` clients that record what they saw.

Waiting is bounded everywhere: ports are polled with a deadline, frames are awaited with a
timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from tests.cluster.frames import FrameWaits, brief, names
from tests.servers import ServerProcess, await_port
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
WAIT = 5.0  # bound for one awaited frame
START_TIMEOUT = 15.0  # bound for a process to listen (2 slow cores, several starting at once)


class RedisServer(ServerProcess):
    """``redis-server`` without persistence on a free port; ``restart`` keeps the port."""

    def __init__(self) -> None:
        super().__init__(["redis-server", "--port", "{port}", "--bind", "127.0.0.1",
                          "--save", "", "--appendonly", "no"], what="redis-server",
                         start_timeout=START_TIMEOUT)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class NodeProcess(ServerProcess):
    """``python -m uvicorn tests.cluster.app:app`` with the cluster settings in its env."""

    def __init__(self, name: str, redis_url: str, env: dict[str, Any]) -> None:
        fd, path = tempfile.mkstemp(prefix=f"pond-{name}-", suffix=".log")
        os.close(fd)
        super().__init__(
            [sys.executable, "-m", "uvicorn", "tests.cluster.app:app", "--host", "127.0.0.1",
             "--port", "{port}", "--log-level", "warning", "--lifespan", "on"],
            env={"REDIS_URL": redis_url, "NODE_ID": name,
                 **{k.upper(): str(v) for k, v in env.items()}},
            log=Path(path), what=f"node {name}", start_timeout=START_TIMEOUT)
        self.name = name

    @property
    def log_path(self) -> Path:
        assert self.log is not None
        return self.log

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/socket"

    def start(self) -> None:
        """Spawn only: several nodes start at once, then :meth:`wait_ready` each."""
        self.spawn()

    async def wait_ready(self) -> None:
        # uvicorn binds only after lifespan start-up, i.e. after the node joined the cluster.
        await await_port(self.port, self.proc, timeout=self.start_timeout, what=self.what,
                         log=self.log)

    async def wait_log(self, pattern: str, timeout: float = WAIT) -> None:
        """Poll this node's log (bounded) until a line matches the regex ``pattern``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not re.search(pattern, self.log_path.read_text(errors="replace")):
            if loop.time() > deadline:
                raise AssertionError(f"{self.name} did not log {pattern!r} within {timeout}s")
            await asyncio.sleep(0.02)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=5)

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def print_log_tail(self, lines: int = 30) -> None:
        text = self.log_path.read_text(errors="replace").splitlines()
        self.log_path.unlink()
        if text:
            print(f"--- log of {self.name} (last {lines} lines) ---")
            print("\n".join(text[-lines:]))


class WSClient(FrameWaits):
    """A ``websockets`` client that records every frame with its arrival time.

    A reader task takes frames off the socket as they come (so the recorded times are
    arrival times); :meth:`next` hands them to the test in order.
    """

    wait = WAIT

    def __init__(self, ws: ClientConnection, node: NodeProcess, label: str) -> None:
        self.ws = ws
        self.node = node
        self.label = label
        self.t0 = time.monotonic()
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.closed_with: str | None = None  # how the connection ended, once it has
        self.presence: list[str] | None = None
        self.connect_frame: dict[str, Any] = {}
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, node: NodeProcess, label: str = "", query: str = "") -> WSClient:
        """Connected to ``node`` (``query``, such as ``?pond_ext=presence-diff``, appended to
        its URL), its CONNECT frame read."""
        ws = await connect(node.ws_url + query, open_timeout=WAIT, close_timeout=1)
        client = cls(ws, node, label)
        client.connect_frame = await client.next()
        assert client.connect_frame["action"] == "CONNECT", client.connect_frame
        return client

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.seen.append((time.monotonic(), frame))
                self._inbox.put_nowait(frame)
        except Exception as exc:
            self.closed_with = f"{type(exc).__name__}: {exc}"
        else:
            rcvd = self.ws.close_rcvd
            self.closed_with = (f"closed {rcvd.code} {rcvd.reason!r}" if rcvd is not None
                                else "closed")
        self.seen.append((time.monotonic(), {"action": "CLOSED", "event": self.closed_with,
                                             "payload": {}}))
        self._inbox.put_nowait(None)

    @property
    def id(self) -> str:
        return self.connect_frame["payload"]["id"]

    @property
    def who(self) -> str:
        return f"{self.label}@{self.node.name}"

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next frame; ``ConnectionError`` once the connection has ended."""
        frame = await asyncio.wait_for(self._inbox.get(), timeout)
        if frame is None:
            self._inbox.put_nowait(None)
            raise ConnectionError(f"{self.label}: connection ended ({self.closed_with})")
        if frame["action"] == "PRESENCE" and "presence" in frame["payload"]:  # not a diff
            self.presence = names(frame)
        return frame

    async def saw(self, pred: Callable[[dict[str, Any]], bool], since: float,
                  timeout: float = WAIT, what: str = "") -> dict[str, Any]:
        """Wait until a frame that arrived after ``since`` matches (in any order relative
        to other awaited frames)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for t, frame in self.seen:
                if t >= since and pred(frame):
                    return frame
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                await self.next(remaining)
            except TimeoutError:
                raise AssertionError(f"{self.who}: no {what or 'matching'} frame within "
                                     f"{timeout}s;\n{self.log(since)}") from None

    async def send_raw(self, action: str, channel: str, event: str,
                       payload: dict[str, Any], request_id: str) -> None:
        await self.ws.send(json.dumps({"action": action, "event": event, "channelName": channel,
                                       "requestId": request_id, "payload": payload}))

    async def join(self, channel: str, name: str) -> None:
        rid = f"join-{self.label}-{channel}"
        await self.send_raw("JOIN_CHANNEL", channel, "JOIN_CHANNEL", {"name": name}, rid)
        frame, _ = await self.wait_for(lambda f: f["requestId"] == rid, what="join answer")
        assert (frame["action"], frame["event"]) == ("SYSTEM", "ACKNOWLEDGE"), frame

    async def send(self, channel: str, event: str, payload: dict[str, Any]) -> None:
        await self.send_raw("BROADCAST", channel, event, payload,
                            f"{self.label}-{event}-{len(self.seen)}-{time.monotonic_ns()}")

    async def leave(self, channel: str) -> None:
        rid = f"leave-{self.label}-{channel}"
        await self.send_raw("LEAVE_CHANNEL", channel, "LEAVE_CHANNEL", {}, rid)
        frame, _ = await self.wait_for(lambda f: f["requestId"] == rid, what="leave answer")
        assert (frame["action"], frame["event"]) == ("SYSTEM", "EXIT_ACKNOWLEDGE"), frame

    def log(self, since: float | None = None) -> str:
        """What this client saw (time relative to ``since``, or to its connection)."""
        t0 = self.t0 if since is None else since
        lines = [f"  {t - t0:+7.3f}s {brief(f)}" for t, f in self.seen
                 if since is None or t >= since]
        return f"{self.label} ({self.id[:8]}) on {self.node.name}:\n" + "\n".join(lines)

    async def close(self) -> None:
        try:
            async with asyncio.timeout(1.0):
                await self.ws.close()
        except Exception:
            self.ws.transport.abort()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


class TcpProxy:
    """A TCP relay to Redis for one node: :meth:`cut` drops its connections and refuses new
    ones (that node alone loses Redis), :meth:`restore` listens again on the same port;
    :meth:`stall` holds every byte without closing anything (a black hole, as a congested
    or partitioned network), :meth:`flow` delivers what was held; :meth:`blackhole`
    swallows the bytes of the current connections for ever without closing them (a firewall
    or NAT that forgot the flows) while new connections work."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._connections = 0
        self._swallowed: set[int] = set()  # connection numbers whose bytes are dropped

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    start = restore

    async def _accept(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        self._connections += 1
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.get_running_loop().create_task(
                self._pipe(src, dst, self._connections))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def stall(self) -> None:
        self._flowing.clear()

    def flow(self) -> None:
        self._flowing.set()

    def blackhole(self) -> None:
        self._swallowed.update(range(1, self._connections + 1))

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    number: int) -> None:
        try:
            while data := await src.read(65536):
                await self._flowing.wait()
                if number in self._swallowed:
                    continue
                dst.write(data)
                await dst.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            dst.transport.abort()

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    stop = cut


class RedisSpy:
    """A subscriber of its own on the test's Redis that records when every node-to-node
    message went by (``last_heard[node]``, monotonic time) and can wait for one.

    Subscribed to the whole namespace, as the nodes are, so it hears a node's messages when
    they do (give or take scheduling).
    """

    def __init__(self, urls: str | list[str], pattern: str = "pondsocket:v1:default:*"
                 ) -> None:
        self.urls = [urls] if isinstance(urls, str) else urls  # every shard
        self.pattern = pattern
        self.last_heard: dict[str, float] = {}
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[None]]] = []
        self._clients: list[Any] = []
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for url in self.urls:
            client = Redis.from_url(url)
            self._clients.append(client)
            pubsub = client.pubsub()
            await pubsub.psubscribe(self.pattern)
            subscribed = loop.create_future()
            self._readers.append(loop.create_task(self._read(pubsub, subscribed)))
            await asyncio.wait_for(subscribed, WAIT)

    async def _read(self, pubsub: Any, subscribed: asyncio.Future[None]) -> None:
        async with pubsub:
            async for item in pubsub.listen():
                if item["type"] == "psubscribe":
                    subscribed.set_result(None)
                    continue
                if item["type"] != "pmessage":
                    continue
                try:
                    message = json.loads(item["data"])
                except ValueError:  # signed: "HMAC-SHA256 <digest> <json>"
                    message = json.loads(item["data"].split(b" ", 2)[2])
                self.last_heard[message["sourceNodeId"]] = time.monotonic()
                for pred, future in list(self._waiters):
                    if not future.done() and pred(message):
                        future.set_result(None)

    async def wait_for(self, pred: Callable[[dict[str, Any]], bool],
                       timeout: float = WAIT, what: str = "message") -> None:
        """Wait (bounded) for the next message that matches ``pred``."""
        future = asyncio.get_running_loop().create_future()
        entry = (pred, future)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(f"no {what} on Redis within {timeout}s") from None
        finally:
            self._waiters.remove(entry)

    async def stop(self) -> None:
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        for client in self._clients:
            await client.aclose()


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisClusterServers:
    """A three-master Redis Cluster (no replicas) on 127.0.0.1, in a temporary directory:
    ``redis-server --cluster-enabled yes`` three times, ``redis-cli --cluster create``, then
    a bounded wait for ``cluster_state:ok`` on every node. A master restarted in place keeps
    its node id and slots (its nodes.conf stays)."""

    def __init__(self, masters: int = 3) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="pond-redis-cluster-"))
        self.servers = [
            ServerProcess(["redis-server", "--port", "{port}", "--bind", "127.0.0.1",
                           "--cluster-enabled", "yes", "--cluster-config-file",
                           f"nodes-{i}.conf", "--dir", str(self.dir), "--save", "",
                           "--appendonly", "no"], port=_cluster_port(),
                          what=f"redis cluster node {i}", start_timeout=START_TIMEOUT)
            for i in range(masters)]

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    @property
    def url(self) -> str:
        """A start-up node's URL (the client learns the others from it)."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> None:
        for server in self.servers:
            server.start()
        subprocess.run(["redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{port}" for port in self.ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        self.wait_ok()

    def wait_ok(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for port in self.ports:
            while "cluster_state:ok" not in subprocess.run(
                    ["redis-cli", "-p", str(port), "cluster", "info"], capture_output=True,
                    text=True, timeout=10).stdout:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Redis Cluster not ok within {timeout}s")
                time.sleep(0.1)

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
