"""The cluster's documented limits (docs/cluster.md, "Failures, and what clients see"), at
their documented default sizes, on an in-process cluster (and, at the end, set smaller
through their ``Options``):

* the outbox keeps up to 10,000 messages while the pub/sub is down, drops the oldest beyond
  and counts them in ``pond.cluster.dropped``;
* a peer that missed messages gets the node's last 4,096 broadcasts and evictions again,
  at most 10 minutes old;
* duplicates are dropped by ``messageId``, and the last 16,384 ids are remembered.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from pondsocket import Options
from pondsocket.pubsub import format_heartbeat_topic, format_message_topic
from tests.cluster.frames import is_message
from tests.cluster.inproc import (
    CHAN,
    Client,
    fence,
    lose_subscription,
    resubscribe,
    wait_until,
)

pytestmark = pytest.mark.timeout(60)

OUTBOX_LIMIT = 10_000
REPLAY_LIMIT = 4_096
REPLAY_MAX_AGE = 600  # seconds
DEDUPE_WINDOW = 16_384
BULK_WAIT = 30.0  # bound for thousands of frames to arrive on a busy machine
# Thousands of frames reach a client at once here: room for them in its send queue.
BULK = {"send_channel_buffer": 20_000}


async def settled(n1, n2) -> None:
    """Both nodes know each other's member and n1 has published everything it had."""
    await wait_until(lambda: "a" in n2.channel().remote_members
                     and "b" in n1.channel().remote_members, what="members exchanged")
    await wait_until(lambda: not n1.cluster._outbox, what="n1's announcements published")


def message_ids(client: Client) -> list[Any]:
    return [f["payload"]["id"] for f in client.seen if is_message()(f) and "id" in f["payload"]]


async def read_until(client: Client, last_id: Any) -> None:
    """Read ``client``'s frames until the message with ``last_id``."""
    await client.wait_for(is_message(id=last_id), timeout=BULK_WAIT, what=f"message {last_id}")


async def test_outbox_keeps_the_last_10000_during_an_outage(make_node, monkeypatch):
    n1, n2 = make_node("n1", **BULK), make_node("n2", **BULK)
    a, b = await n1.join("a", track=False), await n2.join("b")
    await settled(n1, n2)

    async def down(topic: str, data: bytes) -> None:
        raise ConnectionError("the pub/sub is down")

    monkeypatch.setattr(n1.pubsub, "publish", down)  # nothing n1 sends gets out
    extra = 7
    channel = n1.channel()
    for k in range(OUTBOX_LIMIT + extra):
        await channel.broadcast("message", {"id": k})
    assert n1.cluster.dropped == extra
    monkeypatch.undo()  # the pub/sub is back: the outbox is published in order

    await read_until(b, OUTBOX_LIMIT + extra - 1)
    await fence(a, b)
    # The oldest were dropped; the rest arrive once each and in the order sent (n2 waits
    # for the dropped ones for the hold, then gives them up).
    assert message_ids(b) == list(range(extra, OUTBOX_LIMIT + extra))
    assert n1.cluster.dropped == extra


async def test_replay_publishes_the_last_4096_again(make_node):
    n1, n2 = make_node("n1", **BULK), make_node("n2", **BULK)
    a, b = await n1.join("a", track=False), await n2.join("b")
    await settled(n1, n2)
    await lose_subscription(n2)
    extra = 4
    channel = n1.channel()
    for k in range(REPLAY_LIMIT + extra):
        await channel.broadcast("message", {"id": k})
    await wait_until(lambda: not n1.cluster._outbox, timeout=BULK_WAIT,
                     what="n1 published while n2 is away")
    await resubscribe(n2)  # asks n1 for what it missed

    await read_until(b, REPLAY_LIMIT + extra - 1)
    await fence(a, b)
    assert message_ids(b) == list(range(extra, REPLAY_LIMIT + extra))


async def test_the_4096_are_counted_over_all_channels(make_node, spy):
    """The replay keeps a node's last 4,096 over all its channels: a busy channel pushes a
    quiet one's messages out (docs/cluster.md says so)."""
    n1, n2 = make_node("n1", **BULK), make_node("n2", **BULK)
    a, b = await n1.join("a", track=False), await n2.join("b")
    await n1.join("a2", channel="/chat/2", track=False)
    await settled(n1, n2)
    await lose_subscription(n2)
    await a.send("message", {"id": "quiet"})
    await a.wait_for(is_message(id="quiet"))
    busy = n1.channel("/chat/2")
    for k in range(REPLAY_LIMIT):
        await busy.broadcast("message", {"id": k})
    await wait_until(lambda: not n1.cluster._outbox, timeout=BULK_WAIT,
                     what="n1 published while n2 is away")

    # n1 answers n2's request with the replay first, then its STATE_RESPONSE: once that is
    # out, anything replayed is out too.
    answered = asyncio.get_running_loop().create_future()

    async def watch(topic: str, data: bytes) -> None:
        message = json.loads(data)
        if ((message["sourceNodeId"], message["type"], message["channelName"])
                == ("n1", "STATE_RESPONSE", CHAN) and not answered.done()):
            answered.set_result(None)

    await spy.subscribe("pondsocket:v1:default:*", watch)
    await resubscribe(n2)
    await asyncio.wait_for(answered, BULK_WAIT)
    await fence(a, b)
    assert message_ids(b) == [], b.log()  # "quiet" was not published again


class ShiftedClock:
    """The cluster module's ``time``: wall-clock time ``offset`` seconds ahead (ten minutes
    cannot pass in a test), monotonic time unchanged."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()


async def test_replay_skips_messages_older_than_10_minutes(make_node, monkeypatch):
    clock = ShiftedClock()
    monkeypatch.setattr("pondsocket.cluster.node.time", clock)
    n1, n2 = make_node("n1", **BULK), make_node("n2", **BULK)
    a, b = await n1.join("a", track=False), await n2.join("b")
    await settled(n1, n2)
    await lose_subscription(n2)
    await a.send("message", {"id": "old"})
    clock.offset += REPLAY_MAX_AGE / 2
    await a.send("message", {"id": "recent"})
    await wait_until(lambda: not n1.cluster._outbox, what="n1 published while n2 is away")
    clock.offset += REPLAY_MAX_AGE / 2 + 1  # "old" is now 10 min 1 s old, "recent" 5 min 1 s

    await resubscribe(n2)
    await read_until(b, "recent")
    await fence(a, b)
    assert message_ids(b) == ["recent"]


def envelope(kind: str, channel: str, endpoint: str, **fields: Any) -> dict[str, Any]:
    return {"protocol": "pondsocket.distributed", "version": 1, "type": kind,
            "messageId": uuid.uuid4().hex, "sourceNodeId": "ghost", "endpointName": endpoint,
            "channelName": channel, "timestamp": int(time.time() * 1000), **fields}


async def test_the_last_16384_message_ids_are_remembered(make_node, spy):
    """A peer ("ghost", injected on the bus) sends a broadcast, 16,383 other messages, then
    the broadcast again: a duplicate, dropped. One more message later the broadcast's id is
    no longer among the last 16,384 seen: a copy now is delivered again."""
    n1 = make_node("n1", **BULK)
    a = await n1.join("a", track=False)
    topic = format_message_topic("socket", CHAN)
    heartbeats = format_heartbeat_topic()

    def broadcast(payload: dict[str, Any]) -> dict[str, Any]:
        return envelope("USER_MESSAGE", CHAN, "socket", fromUserId="CHANNEL", event="message",
                        payload=payload, requestId="", recipientDescriptor="ALL_USERS")

    async def publish(message: dict[str, Any], on: str = topic) -> None:
        await spy.publish(on, json.dumps(message).encode())

    async def fill(count: int) -> None:
        for _ in range(count):
            await publish(envelope("NODE_HEARTBEAT", "__heartbeat__", "__heartbeat__",
                                   nodeId="ghost"), heartbeats)

    repeated = broadcast({"id": "x"})
    await publish(repeated)
    await a.wait_for(is_message(id="x"))
    await fill(DEDUPE_WINDOW - 1)
    await publish(repeated)  # its id is one of the last 16,384
    await publish(broadcast({"id": "y1"}))
    _, before = await a.wait_for(is_message(id="y1"), timeout=BULK_WAIT)
    assert not [f for f in before if is_message(id="x")(f)], before
    await publish(repeated)  # 16,384 other ids since: forgotten
    await publish(broadcast({"id": "y2"}))
    await a.wait_for(is_message(id="y2"), timeout=BULK_WAIT)
    assert message_ids(a) == ["x", "y1", "x", "y2"]
    assert n1.cluster.duplicates == 1


# -- the same limits as Options ------------------------------------------------------------


async def test_cluster_outbox_limit(make_node, monkeypatch):
    n1, n2 = make_node("n1", cluster_outbox_limit=3), make_node("n2")
    a, b = await n1.join("a", track=False), await n2.join("b")
    await settled(n1, n2)

    async def down(topic: str, data: bytes) -> None:
        raise ConnectionError("the pub/sub is down")

    monkeypatch.setattr(n1.pubsub, "publish", down)
    for k in range(5):
        await a.send("message", {"id": k})
    assert n1.cluster.dropped == 2
    monkeypatch.undo()
    await read_until(b, 4)
    await fence(a, b)
    assert message_ids(b) == [2, 3, 4]


async def test_cluster_replay_limit(make_node):
    n1, n2 = make_node("n1", cluster_replay_limit=2), make_node("n2")
    a, b = await n1.join("a", track=False), await n2.join("b")
    await settled(n1, n2)
    await lose_subscription(n2)
    for k in range(4):
        await a.send("message", {"id": k})
    await wait_until(lambda: not n1.cluster._outbox, what="n1 published while n2 is away")
    await resubscribe(n2)
    await read_until(b, 3)
    await fence(a, b)
    assert message_ids(b) == [2, 3]


async def test_cluster_replay_max_age(make_node, monkeypatch):
    clock = ShiftedClock()
    monkeypatch.setattr("pondsocket.cluster.node.time", clock)
    n1, n2 = make_node("n1", cluster_replay_max_age=60), make_node("n2")
    a, b = await n1.join("a", track=False), await n2.join("b")
    await settled(n1, n2)
    await lose_subscription(n2)
    await a.send("message", {"id": "old"})
    clock.offset += 30
    await a.send("message", {"id": "recent"})
    await wait_until(lambda: not n1.cluster._outbox, what="n1 published while n2 is away")
    clock.offset += 31  # "old" is 61 s old, "recent" 31 s
    await resubscribe(n2)
    await read_until(b, "recent")
    await fence(a, b)
    assert message_ids(b) == ["recent"]


async def test_cluster_dedupe_window(make_node, spy):
    n1 = make_node("n1", cluster_dedupe_window=2)
    a = await n1.join("a", track=False)
    topic = format_message_topic("socket", CHAN)

    def broadcast(payload: dict[str, Any]) -> dict[str, Any]:
        return envelope("USER_MESSAGE", CHAN, "socket", fromUserId="CHANNEL", event="message",
                        payload=payload, requestId="", recipientDescriptor="ALL_USERS")

    async def publish(message: dict[str, Any]) -> None:
        await spy.publish(topic, json.dumps(message).encode())

    repeated = broadcast({"id": "x"})
    await publish(repeated)
    await publish(broadcast({"id": "y1"}))
    await publish(repeated)  # one of the last 2 ids: dropped
    await publish(broadcast({"id": "y2"}))  # x is now the third id back
    await publish(repeated)  # forgotten: delivered
    await publish(broadcast({"id": "y3"}))
    await a.wait_for(is_message(id="y3"))
    assert message_ids(a) == ["x", "y1", "y2", "x", "y3"]


@pytest.mark.parametrize("bad", [
    {"cluster_outbox_limit": 0}, {"cluster_dedupe_window": 0},
    {"cluster_replay_limit": -1}, {"cluster_replay_max_age": -1},
])
def test_bad_cluster_limits_are_refused(bad: dict[str, int]) -> None:
    (name,) = bad
    with pytest.raises(ValueError, match=name):
        Options(**bad)
