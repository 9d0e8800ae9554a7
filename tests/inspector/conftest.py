"""Fixtures of the inspector tests.

* ``DemoServer``: ``pondctl demo --admin-token t`` in a subprocess on a free port;
  ``demo`` is one shared by the module's tests, ``writes_demo`` one with
  ``--admin-writes``, ``make_demo`` starts private ones.
* ``FakeAPI``: fixed admin documents (a node of a three-node cluster) and events, for
  deterministic snapshots; ``FakeAPI(legacy=True)`` serves them as an older server would.
  ``test_fake_schema.py`` checks that they are shaped as a real server's (keys and kinds,
  recursively): a field the server adds or renames has to be added here too.
* ``wait_for``: a bounded wait for a condition while the pilot runs the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pondsocket_tools.inspector.api import WRITES_DISABLED, AuthError, WritesDisabledError
from tests.servers import ServerProcess
from tests.support import free_port  # noqa: F401 - the tests import it from here

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


class DemoServer(ServerProcess):
    """The demo with the admin API in a subprocess (``writes``: with ``--admin-writes``)."""

    def __init__(self, port: int | None = None, writes: bool = False) -> None:
        super().__init__(
            [str(BIN / "pondctl"), "demo", "--port", "{port}", "--admin-token", TOKEN,
             "--log-level", "critical", *(["--admin-writes"] if writes else [])],
            port=port, env={"PONDSOCKET_ADMIN_TOKEN": "", "PONDSOCKET_ADMIN_WRITES": ""},
            what="pondctl demo", start_timeout=START_TIMEOUT)
        self.writes = writes

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/_pond/admin"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/socket"

    def stop(self, sig: int = signal.SIGKILL, timeout: float = 5.0) -> int | None:
        """Killed by default: the tests never need its graceful shutdown."""
        return super().stop(sig, timeout)


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoServer]:
    server = DemoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def writes_demo() -> Iterator[DemoServer]:
    server = DemoServer(writes=True)
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
NODE, PEER, LOST = "5f0c1e9a7b3d4c21", "a81d2c3b4e5f6071", "c4e2f19d08b7a635"

COUNTERS = {"connections_opened": 5, "connections_closed": 2, "messages_received": 40,
            "messages_broadcast": 38, "frames_delivered": 91, "dropped_frames": 2,
            "queued_frames": 3}
RATES = {"messages_received": 3.5, "messages_broadcast": 3.2, "frames_delivered": 9.4,
         "connections_opened": 0.1}
PEER_COUNTERS = {"connections_opened": 2, "connections_closed": 1, "messages_received": 12,
                 "messages_broadcast": 12, "frames_delivered": 30, "dropped_frames": 0,
                 "queued_frames": 0}
PEER_RATES = {"messages_received": 1.2, "messages_broadcast": 1.2, "frames_delivered": 3.6,
              "connections_opened": 0.0}
SEEN = [{"node_id": PEER, "last_seen_seconds": 0.84},
        {"node_id": LOST, "last_seen_seconds": 7.5}]
#: Every GET document says which nodes answered it.
ASKED = {"scope": "cluster", "nodes": [{"node_id": NODE, "ok": True},
                                       {"node_id": PEER, "ok": True},
                                       {"node_id": LOST, "ok": False,
                                        "error": "no answer within 1.0 s"}]}
OVERVIEW = {
    "node_id": NODE, "started_at": T0, "uptime_seconds": 812.4,
    "endpoint_count": 1, "connection_count": 4, "channel_count": 2, "member_count": 5,
    "counters": {k: COUNTERS[k] + PEER_COUNTERS[k] for k in COUNTERS},
    "rates": {k: round(RATES[k] + PEER_RATES[k], 2) for k in RATES},
    "cluster_nodes": SEEN,
    "scope": "cluster",
    "nodes": [
        {"node_id": NODE, "ok": True, "started_at": T0, "uptime_seconds": 812.4,
         "endpoint_count": 1, "connection_count": 3, "channel_count": 2, "member_count": 4,
         "counters": COUNTERS, "rates": RATES, "cluster_nodes": SEEN},
        {"node_id": PEER, "ok": True, "started_at": T0 - 2890.5, "uptime_seconds": 3702.9,
         "endpoint_count": 1, "connection_count": 1, "channel_count": 1, "member_count": 1,
         "counters": PEER_COUNTERS, "rates": PEER_RATES,
         "cluster_nodes": [{"node_id": NODE, "last_seen_seconds": 0.31}]},
        {"node_id": LOST, "ok": False, "error": "no answer within 1.0 s"},
    ],
}
ENDPOINTS = {"endpoints": [{"path": "/api/socket", "connection_count": 4,
                            "lobbies": ["/chat/:room"]}], **ASKED}
CHANNELS = {"channels": [
    {"name": "/chat/lobby", "endpoint": "/api/socket", "pattern": "/chat/:room",
     "member_count": 3, "remote_member_count": 1, "messages_received": 30,
     "messages_broadcast": 30, "frames_delivered": 84, "created_at": T0 + 10,
     "rates": {"messages_received": 2.5, "messages_broadcast": 2.5, "frames_delivered": 8.1},
     "node_ids": [NODE, PEER]},
    {"name": "/chat/ops", "endpoint": "/api/socket", "pattern": "/chat/:room",
     "member_count": 1, "remote_member_count": 0, "messages_received": 10,
     "messages_broadcast": 8, "frames_delivered": 7, "created_at": T0 + 20,
     "rates": {"messages_received": 0.4, "messages_broadcast": 0.3, "frames_delivered": 0.3},
     "node_ids": [NODE]},
], **ASKED}


def _member(uid: str, name: str, status: str, role: str, joined: float | None,
            node: str = "local") -> dict[str, Any]:
    return {"user_id": uid, "node": node, "joined_at": joined,
            "presence": {"name": name, "status": status, "role": role}}


CHANNEL = {
    "lobby": {**CHANNELS["channels"][0], **ASKED, "members": [
        _member("3b9c0d1e2f3a4b5c", "ada", "online", "member", T0 + 11),
        _member("77aa12bb34cc56dd", "bob", "away", "member", T0 + 12),
        _member("90ff81ee72dd63cc", "cleo", "online", "moderator", T0 + 13),
        _member("d4a5e6f708192a3b", "dan", "online", "member", None, node=PEER)]},
    "ops": {**CHANNELS["channels"][1], **ASKED, "members": [
        _member("90ff81ee72dd63cc", "cleo", "online", "moderator", T0 + 21)]},
}


def _connection(uid: str, transport: str, channels: list[str], age: float,
                node: str = "local", **counts: int) -> dict[str, Any]:
    return {"user_id": uid, "node": node, "endpoint": "/api/socket", "transport": transport,
            "address": f"127.0.0.1:{40000 + int(uid[:2], 16)}", "channels": channels,
            "queue_depth": counts.get("queue", 0),
            "frames_sent": counts.get("sent", 0), "dropped_frames": counts.get("dropped", 0),
            "age_seconds": age, "connected_at": T0 + 900 - age}


# In no column's order (the sort tests check that sorting reorders them).
CONNECTIONS = {"connections": [
    _connection("77aa12bb34cc56dd", "websocket", ["/chat/lobby"], 640.2, sent=41),
    _connection("3b9c0d1e2f3a4b5c", "websocket", ["/chat/lobby"], 801.7, sent=52, queue=3),
    _connection("d4a5e6f708192a3b", "websocket", ["/chat/lobby"], 95.0, node=PEER, sent=12),
    _connection("90ff81ee72dd63cc", "sse", ["/chat/lobby", "/chat/ops"], 512.9, sent=60,
                queue=1, dropped=2),
], "total": 4, **ASKED}
EVENTS = [
    {"type": "join", "channel": "/chat/lobby", "endpoint": "/api/socket", "time": T0 + 11.25,
     "user_id": "3b9c0d1e2f3a4b5c"},
    {"type": "presence", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 11.26, "user_id": "3b9c0d1e2f3a4b5c", "kind": "JOIN",
     "changed": {"name": "ada", "status": "online", "role": "member"}},
    {"type": "broadcast", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 14.5, "event": "message", "recipients": 3, "size": 48},
    {"type": "broadcast", "channel": "/chat/ops", "endpoint": "/api/socket",
     "time": T0 + 21.75, "event": "message", "recipients": 1, "size": 31},
    {"type": "presence", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 30.0, "user_id": "77aa12bb34cc56dd", "kind": "UPDATE",
     "changed": {"name": "bob", "status": "away", "role": "member"}},
    {"type": "broadcast", "channel": "/chat/lobby", "endpoint": "/api/socket",
     "time": T0 + 35.5, "event": "message", "recipients": 1, "size": 27, "node": PEER},
    {"type": "leave", "channel": "/chat/ops", "endpoint": "/api/socket", "time": T0 + 40.0,
     "user_id": "77aa12bb34cc56dd"},
    {"type": "error", "channel": "/chat/lobby", "endpoint": "/api/socket", "time": T0 + 41.0,
     "user_id": "77aa12bb34cc56dd", "event": "kick", "code": 403,
     "message": "Only moderators may kick"},
]
for _event in EVENTS:
    _event.setdefault("node", NODE)

#: What an older server leaves out of its documents.
NEWER_FIELDS = ("rates", "nodes", "scope", "node_ids")


def _legacy(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _legacy(v) for k, v in doc.items() if k not in NEWER_FIELDS}
    if isinstance(doc, list):
        return [_legacy(v) for v in doc]
    return doc


class FakeAPI:
    """Fixed documents. ``denied`` makes every call answer 403; ``writes`` allows evict and
    close (which are recorded in ``actions``), otherwise they answer 403 disabled;
    ``legacy`` serves the documents without the fields newer servers add."""

    base_url = "http://127.0.0.1:8765/_pond/admin"

    def __init__(self, denied: bool = False, writes: bool = True,
                 legacy: bool = False) -> None:
        self.denied = denied
        self.writes = writes
        self.legacy = legacy
        self.actions: list[tuple[Any, ...]] = []
        self.event_channels: list[str | None] = []  # the channel filter of each stream
        self.channel_calls: list[str] = []  # the channel documents asked for
        self.connection_sorts: list[str] = []  # the sort of each /connections asked for

    def _answer(self, doc: Any) -> Any:
        if self.denied:
            raise AuthError(403, "invalid token")
        return _legacy(doc) if self.legacy else doc

    async def overview(self) -> dict[str, Any]:
        return self._answer(OVERVIEW)

    async def endpoints(self) -> dict[str, Any]:
        return self._answer(ENDPOINTS)

    async def channels(self) -> dict[str, Any]:
        return self._answer(CHANNELS)

    async def channel(self, name: str, endpoint: str | None = None, *, offset: int = 0,
                      limit: int | None = None) -> dict[str, Any]:
        self.channel_calls.append(name)
        doc = self._answer(CHANNEL[name.rsplit("/", 1)[-1]])
        members = doc["members"]  # paged as the admin API pages them
        end = None if limit is None else offset + limit
        return {**doc, "members": members[offset:end], "members_total": len(members),
                "offset": offset, "limit": limit}

    async def connections(self, limit: int = 500, sort: str = "age") -> dict[str, Any]:
        self.connection_sorts.append(sort)
        return self._answer(CONNECTIONS)

    async def evict(self, name: str, user_id: str, endpoint: str | None = None,
                    reason: str | None = None) -> dict[str, Any]:
        return self._write(("evict", name, user_id, endpoint),
                           {"channel": name, "user_id": user_id, "evicted": True})

    async def close_channel(self, name: str, endpoint: str | None = None,
                            reason: str | None = None) -> dict[str, Any]:
        return self._write(("close", name, endpoint), {"channel": name, "closed": True})

    def _write(self, action: tuple[Any, ...], answer: dict[str, Any]) -> dict[str, Any]:
        self._answer(None)
        if not self.writes:
            raise WritesDisabledError(403, WRITES_DISABLED)
        self.actions.append(action)
        return answer

    async def events(self, channel: str | None = None,
                     on_open: Any = None) -> AsyncIterator[dict[str, Any]]:
        self._answer(None)
        self.event_channels.append(channel)
        if on_open is not None:
            on_open()
        if len(self.event_channels) == 1:  # the first stream replays the fixed events
            for event in EVENTS:
                yield self._answer(event)
        await asyncio.Event().wait()  # then nothing more, until the app exits

    async def aclose(self) -> None:
        pass
