"""Cross-node delivery on an in-process cluster: every recipient exactly once, the v1
envelope and topics, duplicates, namespaces."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from pondsocket import DistributedMessageType
from tests.cluster.frames import brief, is_message, names
from tests.cluster.inproc import CHAN, fence, wait_until

pytestmark = pytest.mark.timeout(20)


async def three_node_room(make_node: Any) -> tuple[list[Any], list[Any]]:
    """Nodes n1..n3 with two members each in /chat/1, everyone seeing all six."""
    nodes = [make_node(f"n{i}") for i in (1, 2, 3)]
    clients = []
    for node in nodes:
        for k in (1, 2):
            clients.append(await node.join(f"{node.name}u{k}"))
    everyone = {c.id for c in clients}
    for client in clients:
        await client.wait_presence(everyone)
    return nodes, clients


def message_counts(frames: list[dict[str, Any]]) -> Counter[str]:
    return Counter(f["payload"]["id"] for f in frames
                   if f["action"] == "BROADCAST" and "id" in f["payload"])


async def test_broadcast_reaches_every_member_on_every_node_exactly_once(make_node):
    _, clients = await three_node_room(make_node)
    sent = []
    for client in clients:
        for k in range(3):
            sent.append(f"{client.id}-{k}")
            await client.send("message", {"id": sent[-1]})
    # One fence per sending node: each orders everything its node published before it.
    seen: dict[str, list[dict[str, Any]]] = {c.id: [] for c in clients}
    for sender in (clients[0], clients[2], clients[4]):
        for uid, frames in (await fence(sender, *clients)).items():
            seen[uid] += frames
    for client in clients:
        counts = message_counts(seen[client.id])
        assert counts == Counter(sent), (client.id, counts)


async def test_server_side_broadcast_reaches_every_node(make_node):
    nodes, clients = await three_node_room(make_node)
    await nodes[1].channel().broadcast("message", {"id": "from-server"})
    for client in clients:
        await client.wait_for(is_message(id="from-server"))
    got = await fence(clients[2], *clients)
    assert all(not message_counts(frames) for frames in got.values()), got


async def test_broadcast_from_reaches_everyone_but_the_sender(make_node):
    _, clients = await three_node_room(make_node)
    sender = clients[2]  # n2u1
    await sender.send("from", {"id": "x"})
    got = await fence(sender, *clients)
    for client in clients:
        expected = Counter() if client is sender else Counter({"x": 1})
        assert message_counts(got[client.id]) == expected, (client.id, got[client.id])


async def test_broadcast_to_reaches_only_the_listed_members_once(make_node):
    _, clients = await three_node_room(make_node)
    sender = clients[0]  # n1u1
    targets = {"n1u2", "n2u1", "n3u2"}
    # duplicates and a non-member in the list are harmless
    await sender.send("to", {"id": "t", "to": [*sorted(targets), "n2u1", "nobody"]})
    got = await fence(sender, *clients)
    for client in clients:
        expected = Counter({"t": 1}) if client.id in targets else Counter()
        assert message_counts(got[client.id]) == expected, (client.id, got[client.id])


async def test_envelope_has_the_v1_fields_and_topic(make_node, spy):
    envelopes: list[tuple[str, dict[str, Any]]] = []
    arrived = asyncio.Event()

    async def watch(topic: str, data: bytes) -> None:
        envelopes.append((topic, json.loads(data)))
        arrived.set()

    await spy.subscribe("pondsocket:v1:*", watch)
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a")
    b = await n2.join("b")
    await a.wait_presence({"a", "b"})
    await a.send("message", {"id": "m"})
    await b.wait_for(is_message(id="m"))
    await wait_until(lambda: any(e.get("type") == "USER_MESSAGE" for _, e in envelopes),
                     what="USER_MESSAGE on the bus")
    fields = ("protocol", "version", "type", "messageId", "sourceNodeId", "endpointName",
              "channelName", "timestamp")
    kinds = {e["type"] for _, e in envelopes}
    assert {"NODE_HEARTBEAT", "STATE_REQUEST", "USER_JOINED", "PRESENCE_UPDATE",
            "USER_MESSAGE"} <= kinds, kinds
    assert kinds <= {str(t) for t in DistributedMessageType}, kinds
    ids = [e["messageId"] for _, e in envelopes]
    assert len(set(ids)) == len(ids)
    for topic, e in envelopes:
        assert all(f in e for f in fields), e
        assert e["protocol"] == "pondsocket.distributed" and e["version"] == 1, e
        assert e["sourceNodeId"] in ("n1", "n2"), e
        assert isinstance(e["timestamp"], int) and e["timestamp"] > 1_600_000_000_000, e
        if e["type"] == "NODE_HEARTBEAT":
            assert topic == "pondsocket:v1:default:__heartbeat__", topic
            assert e["nodeId"] == e["sourceNodeId"], e
        else:
            assert (e["endpointName"], e["channelName"]) == ("socket", CHAN), e
            assert topic == "pondsocket:v1:default:socket:/chat/1", topic
    message = next(e for _, e in envelopes if e["type"] == "USER_MESSAGE")
    assert message["sourceNodeId"] == "n1"
    assert message["event"] == "message" and message["payload"] == {"id": "m"}
    assert message["recipientDescriptor"] == "ALL_USERS"
    assert message["fromUserId"] == "CHANNEL"  # ctx.broadcast: sent to all, sender included
    joined = next(e for _, e in envelopes if e["type"] == "USER_JOINED" and e["userId"] == "b")
    assert joined["sourceNodeId"] == "n2" and "assigns" in joined and "presence" in joined


async def test_duplicate_message_ids_are_dropped(make_node, spy):
    raw: list[bytes] = []

    async def watch(topic: str, data: bytes) -> None:
        if json.loads(data).get("type") == "USER_MESSAGE":
            raw.append(data)

    await spy.subscribe("pondsocket:v1:default:socket:*", watch)
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a")
    b = await n2.join("b")
    await b.wait_presence({"a", "b"})
    await a.send("message", {"id": "orig"})
    await b.wait_for(is_message(id="orig"))
    await wait_until(lambda: len(raw) == 1, what="the USER_MESSAGE on the spy")
    topic = "pondsocket:v1:default:socket:/chat/1"
    # The same envelope again, twice: already seen.
    before = n2.cluster.duplicates
    await spy.publish(topic, raw[0])
    await spy.publish(topic, raw[0])
    # A new envelope from a third "node", published twice: delivered once.
    forged = {**json.loads(raw[0]), "messageId": "fresh-id", "sourceNodeId": "n9",
              "payload": {"id": "injected"}}
    body = json.dumps(forged).encode()
    await spy.publish(topic, body)
    await spy.publish(topic, body)
    got = await fence(a, b)
    assert message_counts(got["b"]) == Counter({"injected": 1}), got["b"]
    assert n2.cluster.duplicates - before == 3


async def test_namespaces_isolate(make_node):
    blue1, blue2 = make_node("blue1", namespace="blue"), make_node("blue2", namespace="blue")
    green1, green2 = make_node("green1", namespace="green"), make_node("green2",
                                                                       namespace="green")
    # a namespace that merely starts with "blue" and ":" is another namespace too
    sub = make_node("sub", namespace="blue:x")
    b1, b2 = await blue1.join("b1"), await blue2.join("b2")
    g1, g2 = await green1.join("g1"), await green2.join("g2")
    s1 = await sub.join("s1")
    await b1.wait_presence({"b1", "b2"})
    await g1.wait_presence({"g1", "g2"})
    await b1.send("message", {"id": "blue"})
    await s1.send("message", {"id": "sub"})
    await g1.send("message", {"id": "green"})
    await b2.wait_for(is_message(id="blue"))
    await g2.wait_for(is_message(id="green"))
    # Fences from inside each namespace, published after everything above.
    got_b = await fence(b2, b1, b2)
    got_g = await fence(g2, g1, g2)
    got_s = await fence(s1, s1)
    for frames, own in ((got_b["b1"] + got_b["b2"], {"b1", "b2"}),
                        (got_g["g1"] + got_g["g2"], {"g1", "g2"}), (got_s["s1"], {"s1"})):
        for f in frames:
            if f["action"] == "PRESENCE":
                assert set(names(f)) <= own, brief(f)
    assert "sub" not in message_counts(got_b["b1"] + got_b["b2"])
    assert "blue" not in message_counts(got_s["s1"])
    assert set(blue1.channel().remote_members) == {"b2"}
    assert set(green1.channel().remote_members) == {"g2"}
    assert set(sub.channel().remote_members) == set()
    assert await blue1.channel().get_presence() == {"b1": {"name": "b1"},
                                                    "b2": {"name": "b2"}}
