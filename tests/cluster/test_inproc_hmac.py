"""HMAC-signed node-to-node messages (Options.cluster_secret)."""

from __future__ import annotations

import json

import pytest

from tests.cluster.frames import is_message, names
from tests.cluster.inproc import fence, wait_until

pytestmark = pytest.mark.timeout(20)

TOPIC = "pondsocket:v1:default:socket:/chat/1"


async def test_nodes_sharing_a_secret_talk(make_node, spy):
    raw: list[bytes] = []

    async def watch(topic: str, data: bytes) -> None:
        raw.append(data)

    await spy.subscribe("pondsocket:v1:*", watch)
    n1, n2 = make_node("n1", cluster_secret="s3cret"), make_node("n2", cluster_secret=b"s3cret")
    a = await n1.join("a")
    b = await n2.join("b")
    await a.wait_presence({"a", "b"})
    await b.wait_presence({"a", "b"})
    await a.send("message", {"id": "signed"})
    await b.wait_for(is_message(id="signed"))
    assert raw and all(data.startswith(b"HMAC-SHA256 ") for data in raw)
    assert n1.cluster.rejected == n2.cluster.rejected == 0


async def test_nodes_with_another_secret_or_none_are_ignored(make_node):
    n1, n2 = make_node("n1", cluster_secret="s3cret"), make_node("n2", cluster_secret="s3cret")
    other = make_node("other", cluster_secret="different")
    plain = make_node("plain")  # no secret at all
    a, b = await n1.join("a"), await n2.join("b")
    await a.wait_presence({"a", "b"})
    o, p = await other.join("o"), await plain.join("p")
    await o.send("message", {"id": "from-other"})
    await p.send("message", {"id": "from-plain"})
    # Each foreign node published 5 messages (heartbeat, STATE_REQUEST, USER_JOINED,
    # PRESENCE_UPDATE, its broadcast): all 10 dropped on n1 and n2.
    await wait_until(lambda: n1.cluster.rejected >= 10 and n2.cluster.rejected >= 10,
                     what="the foreign nodes' messages rejected")
    got = await fence(b, a, b)
    assert n1.cluster.rejected == n2.cluster.rejected == 10
    for frames in got.values():
        for f in frames:
            assert f["action"] != "PRESENCE" or set(names(f)) <= {"a", "b"}, f
            assert f["payload"].get("id") not in ("from-other", "from-plain"), f
    for node in (n1, n2):
        assert set(node.channel().remote_members) <= {"a", "b"}
    # and they, in turn, did not accept the signed cluster's messages
    assert not other.channel().remote_members and not plain.channel().remote_members
    assert other.cluster.rejected > 0 and plain.cluster.rejected > 0
    print("rejected:", {n.name: n.cluster.rejected for n in (n1, n2, other, plain)})


async def test_forged_and_replayed_signed_messages(make_node, spy):
    raw: list[bytes] = []

    async def watch(topic: str, data: bytes) -> None:
        raw.append(data)

    await spy.subscribe(TOPIC, watch)
    n1, n2 = make_node("n1", cluster_secret="k"), make_node("n2", cluster_secret="k")
    a, b = await n1.join("a"), await n2.join("b")
    await b.wait_presence({"a", "b"})
    await a.send("message", {"id": "genuine"})
    await b.wait_for(is_message(id="genuine"))
    await wait_until(lambda: any(b'"genuine"' in d for d in raw), what="the signed message")
    genuine = next(d for d in raw if b'"genuine"' in d)
    prefix, digest, body = genuine.split(b" ", 2)
    envelope = json.loads(body)
    tampered = json.dumps({**envelope, "messageId": "new", "payload": {"id": "evil"}}).encode()
    rejected = n2.cluster.rejected
    duplicates = n2.cluster.duplicates
    await spy.publish(TOPIC, b" ".join((prefix, digest, tampered)))  # body changed
    await spy.publish(TOPIC, tampered)  # unsigned
    await spy.publish(TOPIC, genuine)  # a replay of a genuine message
    got = await fence(a, b)
    assert not [f for f in got["b"] if f["action"] == "BROADCAST"], got["b"]
    assert n2.cluster.rejected - rejected == 2
    assert n2.cluster.duplicates - duplicates == 1
