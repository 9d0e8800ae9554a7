"""The fake admin API of the snapshot tests (:class:`FakeAPI`) serves documents shaped like
a real server's: a real three-node cluster (two demo nodes under uvicorn sharing an
in-process bus, and a peer that heartbeats but never answers admin queries, as a frozen
node or another implementation does) is asked every route the inspector reads, and each
fake document must have the same keys, recursively, with values of the same kinds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pondsocket import AdminOptions, LocalBus, LocalPubSub, Options, PondSocket
from pondsocket.asgi import PondASGIApp
from pondsocket_tools.client import PondClient, ServerError
from pondsocket_tools.demo import build_pond
from pondsocket_tools.inspector.api import AdminClient
from tests.servers import UvicornServer, start_uvicorn

from . import conftest as fake
from .conftest import TOKEN

SILENT = "silent-peer"
BASE = "pondsocket:v1:default"
#: Every event type the fake's tail shows.
EVENT_TYPES = {e["type"] for e in fake.EVENTS}
TIMEOUT = 5.0


def kind(value: Any) -> str:
    """The JSON kind of a value (ints and floats are both numbers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", dict: "object", list: "array"}.get(type(value), repr(type(value)))


def differences(fake_doc: Any, real: Any, path: str = "$") -> list[str]:
    """How ``fake_doc``'s structure differs from ``real``'s: keys missing or extra, values
    of another kind; each element of a list must match one of the real list's elements.
    ``null`` matches any kind (the documented nullable fields: presence, joined_at)."""
    if fake_doc is None or real is None:
        return []
    if kind(fake_doc) != kind(real):
        return [f"{path}: {kind(fake_doc)} in the fake, {kind(real)} in the server's"]
    if isinstance(fake_doc, dict):
        found = [f"{path}.{k}: only in the fake" for k in fake_doc.keys() - real.keys()]
        found += [f"{path}.{k}: missing from the fake" for k in real.keys() - fake_doc.keys()]
        for key in fake_doc.keys() & real.keys():
            found += differences(fake_doc[key], real[key], f"{path}.{key}")
        return sorted(found)
    if isinstance(fake_doc, list):
        if fake_doc and not real:
            return [f"{path}: the server's list is empty, nothing to compare with"]
        found = []
        for index, element in enumerate(fake_doc):
            closest = min((differences(element, r, f"{path}[{index}]") for r in real), key=len)
            found += closest
        return found
    return []


def rogue_envelope(kind_: str, endpoint: str, channel: str, **fields: Any) -> bytes:
    return json.dumps({"protocol": "pondsocket.distributed", "version": 1, "type": kind_,
                       "messageId": f"silent-{time.monotonic_ns()}",
                       "sourceNodeId": SILENT, "endpointName": endpoint,
                       "channelName": channel, "timestamp": int(time.time() * 1000),
                       **fields}).encode()


async def start_node(bus: LocalBus, node_id: str) -> UvicornServer:
    pond = build_pond(PondSocket(pubsub=LocalPubSub(bus=bus), options=Options(
        node_id=node_id, heartbeat_interval=0.2, heartbeat_timeout=30)))
    return await start_uvicorn(PondASGIApp(pond, admin=AdminOptions(token=TOKEN,
                                                                    cluster_timeout=0.3)))


async def until(condition: Any, what: str) -> None:
    """A bounded poll for cluster membership (it has no event to await)."""
    async with asyncio.timeout(TIMEOUT):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


@pytest.fixture
async def real_cluster() -> AsyncIterator[dict[str, Any]]:
    """The documents of a real cluster doing what the fake's documents describe: members
    with presence on two nodes, an SSE connection, a status change, broadcasts, a leave
    and a refused kick; the events of the stream by type."""
    bus = LocalBus()
    servers: list[UvicornServer] = []
    clients: list[PondClient] = []
    silent = LocalPubSub(bus=bus)
    api: AdminClient | None = None
    events: dict[str, list[dict[str, Any]]] = {}
    try:
        for node_id in ("node-a", "node-b"):
            servers.append(await start_node(bus, node_id))
        a, b = servers
        await silent.publish(f"{BASE}:__heartbeat__", rogue_envelope(
            "NODE_HEARTBEAT", "__heartbeat__", "__heartbeat__", nodeId=SILENT,
            incarnation="x"))
        cluster = a.pond.cluster
        await until(lambda: {"node-b", SILENT} <= set(cluster.nodes), "A heard the peers")

        api = AdminClient(a.http_url("/_pond/admin"), TOKEN)
        opened = asyncio.Event()

        async def collect() -> None:
            async for doc in api.events(on_open=opened.set):
                events.setdefault(doc["type"], []).append(doc)

        collector = asyncio.create_task(collect())
        async with asyncio.timeout(TIMEOUT):
            await opened.wait()

        async def connect(server: UvicornServer, name: str, token: str = "demo",
                          transport: str = "websocket") -> PondClient:
            client = PondClient(server.ws_url("/api/socket") if transport == "websocket"
                                else server.http_url("/api/socket"),
                                {"token": token, "name": name}, transport=transport)
            clients.append(client)
            await client.connect(timeout=TIMEOUT)
            return client

        ada, bob = await connect(a, "ada"), await connect(a, "bob")
        cleo = await connect(a, "cleo", "demo-mod", transport="sse")
        dan = await connect(b, "dan")
        lobby = {c: await c.join("/chat/lobby") for c in (ada, bob, cleo, dan)}
        bob_ops = await bob.join("/chat/ops")
        await cleo.join("/chat/ops")
        await lobby[bob].send("status", {"status": "away"})
        await lobby[ada].send("message", {"text": "hi"})
        await lobby[dan].send("message", {"text": "from node b"})
        with contextlib.suppress(ServerError):
            await lobby[bob].request("kick", {"name": "ada"}, timeout=TIMEOUT)
        await bob_ops.leave(timeout=TIMEOUT)
        await until(lambda: events.keys() >= EVENT_TYPES
                    and any(e.get("node") == "node-b" for e in events["broadcast"]),
                    "every kind of event, one from node B")
        collector.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        yield {
            "overview": await api.overview(),
            "endpoints": await api.endpoints(),
            "channels": await api.channels(),
            "lobby": await api.channel("/chat/lobby"),
            "ops": await api.channel("/chat/ops"),
            "connections": await api.connections(),
            "events": events,
        }
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(TIMEOUT):
                    await client.close()
        if api is not None:
            await api.aclose()
        await silent.close()
        for server in reversed(servers):
            await server.stop()


async def test_the_fake_documents_have_the_real_servers_structure(real_cluster) -> None:
    real = real_cluster
    assert [n["ok"] for n in real["overview"]["nodes"]] == [True, True, False]
    api = fake.FakeAPI()
    pairs = {
        "/overview": (await api.overview(), real["overview"]),
        "/endpoints": (await api.endpoints(), real["endpoints"]),
        "/channels": (await api.channels(), real["channels"]),
        "/channels/%2Fchat%2Flobby": (await api.channel("/chat/lobby"), real["lobby"]),
        "/channels/%2Fchat%2Fops": (await api.channel("/chat/ops"), real["ops"]),
        "/connections": (await api.connections(), real["connections"]),
    }
    for event in fake.EVENTS:
        pairs[f"/events {event['type']}"] = ([event], real["events"][event["type"]])
    drift = [f"{route} {diff}" for route, (mine, theirs) in pairs.items()
             for diff in differences(mine, theirs)]
    assert not drift, "the fake differs from the server:\n" + "\n".join(drift)


def test_the_comparison_finds_each_kind_of_drift() -> None:
    real = {"a": 1, "b": {"c": "x"}, "d": [{"e": 1.5}, {"f": True}], "g": None}
    assert differences({"a": 2.0, "b": {"c": "y"}, "d": [{"f": False}], "g": [1]}, real) == []
    assert differences({"a": "1", "b": {"c": "x", "z": 0}, "d": [{"e": "no"}], "g": None},
                       real) == ["$.a: string in the fake, number in the server's",
                                 "$.b.z: only in the fake",
                                 "$.d[0].e: string in the fake, number in the server's"]
    assert differences({"a": 1, "b": {}, "d": [], "g": None}, real) == [
        "$.b.c: missing from the fake"]
    assert differences({"l": [1]}, {"l": []}) == [
        "$.l: the server's list is empty, nothing to compare with"]
