"""Fixtures of the inspector tests.

* ``DemoServer``: ``pondctl demo --admin-token t`` in a subprocess on a free port;
  ``demo`` is one shared by the module's tests, ``make_demo`` starts private ones.
* ``FakeAPI``: fixed admin documents and events, for deterministic snapshots.
* ``wait_for``: a bounded wait for a condition while the pilot runs the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pondsocket_tools.inspector.api import AuthError
from tests.support import free_port

TOKEN = "t"
BIN = Path(sys.executable).parent
START_TIMEOUT = 10.0

# Member join times and event times are shown in local time: make snapshots stable.
os.environ["TZ"] = "UTC"
time.tzset()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An inspector test that hangs fails after 30 s."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))




class DemoServer:
    """The demo with the admin API in a subprocess."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_pond/admin"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/socket"

    def start(self) -> None:
        env = {**os.environ, "PONDSOCKET_ADMIN_TOKEN": ""}
        self.proc = subprocess.Popen(
            [str(BIN / "pondctl"), "demo", "--port", str(self.port), "--admin-token", TOKEN,
             "--log-level", "critical"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # start-up has no event to wait for: poll the port, bounded
            if self.proc.poll() is not None:
                raise RuntimeError(f"pondctl demo exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("pondctl demo did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    server = DemoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_demo() -> Iterator[Callable[..., DemoServer]]:
    servers: list[DemoServer] = []

    def make(port: int | None = None) -> DemoServer:
        server = DemoServer(port)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 5.0,
                   what: str = "condition") -> None:
    """Let the app run until ``condition()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    """Connected :class:`PondClient` factory; all are closed at the end."""
    from pondsocket_tools.client import PondClient

    made: list[Any] = []

    async def connect(server: DemoServer, name: str) -> Any:
        client = PondClient(server.ws_url, {"token": "demo", "name": name})
        made.append(client)
        await client.connect()
        return client

    yield connect
    for client in made:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await client.close()


# -- a fake admin API with fixed documents ----------------------------------------------

T0 = 1764000000.0

OVERVIEW = {
    "node_id": "5f0c1e9a7b3d4c21", "started_at": T0, "uptime_seconds": 812.4,
    "endpoint_count": 1, "connection_count": 3, "channel_count": 2,
    "counters": {"connections_opened": 5, "connections_closed": 2, "messages_received": 40,
                 "messages_broadcast": 38, "frames_delivered": 91, "dropped_frames": 0,
                 "queued_frames": 0},
    "cluster_nodes": [],
}
ENDPOINTS = {"endpoints": [{"path": "/api/socket", "connection_count": 3,
                            "lobbies": ["/chat/:room"]}]}
CHANNELS = {"channels": [
    {"name": "/chat/lobby", "endpoint": "/api/socket", "pattern": "/chat/:room",
     "member_count": 3, "remote_member_count": 0, "messages_received": 30,
     "messages_broadcast": 30, "frames_delivered": 84, "created_at": T0 + 10},
    {"name": "/chat/ops", "endpoint": "/api/socket", "pattern": "/chat/:room",
     "member_count": 1, "remote_member_count": 0, "messages_received": 10,
     "messages_broadcast": 8, "frames_delivered": 7, "created_at": T0 + 20},
]}


def _member(uid: str, name: str, status: str, role: str, joined: float) -> dict[str, Any]:
    return {"user_id": uid, "node": "local", "joined_at": joined,
            "presence": {"name": name, "status": status, "role": role}}


CHANNEL = {
    "lobby": {**CHANNELS["channels"][0], "members": [
        _member("3b9c0d1e2f3a4b5c", "ada", "online", "member", T0 + 11),
        _member("77aa12bb34cc56dd", "bob", "away", "member", T0 + 12),
        _member("90ff81ee72dd63cc", "cleo", "online", "moderator", T0 + 13)]},
    "ops": {**CHANNELS["channels"][1], "members": [
        _member("90ff81ee72dd63cc", "cleo", "online", "moderator", T0 + 21)]},
}
EVENTS = [
    {"type": "join", "channel": "/chat/lobby", "endpoint": "/api/socket", "time": T0 + 11.25,
     "user_id": "3b9c0d1e2f3a4b5c"},
    {"type": "presence", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 11.26, "kind": "JOIN", "changed": {"name": "ada", "status": "online"}},
    {"type": "broadcast", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 14.5, "event": "message", "recipients": 3, "size": 48},
    {"type": "broadcast", "channel": "/chat/ops", "endpoint": "/api/socket",
     "time": T0 + 21.75, "event": "message", "recipients": 1, "size": 31},
    {"type": "presence", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 30.0, "kind": "UPDATE", "changed": {"name": "bob", "status": "away"}},
    {"type": "leave", "channel": "/chat/ops", "endpoint": "/api/socket", "time": T0 + 40.0,
     "user_id": "77aa12bb34cc56dd"},
    {"type": "error", "channel": "/chat/lobby", "endpoint": "/api/socket", "time": T0 + 41.0,
     "user_id": "77aa12bb34cc56dd", "event": "kick", "code": 403,
     "message": "Only moderators may kick"},
]


class FakeAPI:
    """Fixed documents; ``denied`` makes every call answer 403."""

    base_url = "http://127.0.0.1:8765/_pond/admin"

    def __init__(self, denied: bool = False) -> None:
        self.denied = denied

    def _check(self) -> None:
        if self.denied:
            raise AuthError(403, "invalid token")

    async def overview(self) -> dict[str, Any]:
        self._check()
        return OVERVIEW

    async def endpoints(self) -> dict[str, Any]:
        self._check()
        return ENDPOINTS

    async def channels(self) -> dict[str, Any]:
        self._check()
        return CHANNELS

    async def channel(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        self._check()
        return CHANNEL[name.rsplit("/", 1)[-1]]

    async def events(self, channel: str | None = None,
                     on_open: Any = None) -> AsyncIterator[dict[str, Any]]:
        self._check()
        if on_open is not None:
            on_open()
        for event in EVENTS:
            yield event
        await asyncio.Event().wait()  # then nothing more, until the app exits

    async def aclose(self) -> None:
        pass
