"""LocalPubSub: patterns, order, backpressure, close; topic helpers."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket import (
    LocalPubSub,
    PubSub,
    PubSubClosedError,
    format_heartbeat_topic,
    format_message_topic,
    format_presence_topic,
    format_system_topic,
    format_topic,
    match_topic,
)
from tests.core.helpers import let_ready_tasks_run


class Inbox:
    """A subscriber handler that records what it got, optionally held at a gate."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.items: list[tuple[str, bytes]] = []
        self.gate = gate
        self.started = asyncio.Event()
        self.changed = asyncio.Event()

    async def __call__(self, topic: str, data: bytes) -> None:
        self.started.set()
        if self.gate is not None:
            await self.gate.wait()
        self.items.append((topic, data))
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.items) < count:
            self.changed.clear()
            await self.changed.wait()


@pytest.fixture
async def bus():
    bus = LocalPubSub()
    yield bus
    await bus.close()


def test_topic_helpers():
    assert format_message_topic("/socket", "/chat/1") == "pondsocket:v1:default:socket:/chat/1"
    assert format_presence_topic("/socket", "/chat/1") == format_message_topic("/socket",
                                                                               "/chat/1")
    assert format_topic("/s", "/c", "ev", namespace="ns", prefix="p") == "p:v1:ns:s:/c:ev"
    assert format_heartbeat_topic(namespace="ns") == "pondsocket:v1:ns:__heartbeat__"
    assert format_system_topic("evict") == "pondsocket:v1:default:system:evict"


@pytest.mark.parametrize(("pattern", "topic", "matches"), [
    ("a:b", "a:b", True),
    ("a:b", "a:bc", False),
    ("a:b", "a", False),
    ("a:*", "a:b", True),
    ("a:*", "a:", True),
    ("a:*", "a", False),
    ("*", "anything", True),
    ("a:b*", "a:bcd", True),
    ("a*b", "a*b", True),  # only a final * is a wildcard
    ("a*b", "axb", False),
])
def test_match_topic(pattern, topic, matches):
    assert match_topic(pattern, topic) is matches


async def test_exact_and_prefix_subscriptions(bus):
    assert isinstance(bus, PubSub)
    exact, prefix, other = Inbox(), Inbox(), Inbox()
    await bus.subscribe("ns:chat:1", exact)
    await bus.subscribe("ns:chat:*", prefix)
    await bus.subscribe("ns:other", other)
    await bus.publish("ns:chat:1", b"one")
    await bus.publish("ns:chat:2", b"two")
    await prefix.wait_for(2)
    await exact.wait_for(1)
    assert exact.items == [("ns:chat:1", b"one")]
    assert prefix.items == [("ns:chat:1", b"one"), ("ns:chat:2", b"two")]
    assert other.items == []


async def test_messages_arrive_in_publish_order(bus):
    inbox = Inbox()
    await bus.subscribe("t", inbox)
    for n in range(500):
        await bus.publish("t", str(n).encode())
    await inbox.wait_for(500)
    assert [int(data) for _, data in inbox.items] == list(range(500))


async def test_backpressure_publish_waits_and_nothing_is_dropped():
    bus = LocalPubSub(buffer_size=1)
    gate = asyncio.Event()
    slow, fast = Inbox(gate), Inbox()
    await bus.subscribe("t", slow)
    await bus.subscribe("t*", fast)
    await bus.publish("t", b"1")
    await slow.started.wait()  # the slow handler holds message 1
    await bus.publish("t", b"2")  # fills the slow subscriber's queue
    third = asyncio.create_task(bus.publish("t", b"3"))
    await let_ready_tasks_run()
    assert not third.done()  # publish waits for room: backpressure, not loss
    gate.set()
    await third
    await slow.wait_for(3)
    await fast.wait_for(3)
    assert [d for _, d in slow.items] == [b"1", b"2", b"3"]
    assert [d for _, d in fast.items] == [b"1", b"2", b"3"]
    assert (bus.published, bus.delivered) == (3, 6)
    await bus.close()


async def test_a_failing_handler_does_not_stop_its_subscription(bus):
    seen = []

    async def flaky(topic: str, data: bytes) -> None:
        seen.append(data)
        if data == b"bad":
            raise RuntimeError("handler bug")

    await bus.subscribe("t", flaky)
    for data in (b"bad", b"good"):
        await bus.publish("t", data)
    await bus.close()  # delivers what is queued first
    assert seen == [b"bad", b"good"]


async def test_unsubscribe_and_resubscribe(bus):
    first, second = Inbox(), Inbox()
    await bus.subscribe("t", first)
    await bus.publish("t", b"1")
    await bus.subscribe("t", second)  # replaces the handler
    await bus.publish("t", b"2")
    await bus.unsubscribe("t")
    await bus.publish("t", b"3")
    await bus.unsubscribe("never-subscribed")
    assert first.items == [("t", b"1")]
    assert second.items == [("t", b"2")]


async def test_close_delivers_queued_messages_then_refuses_everything():
    bus = LocalPubSub()
    inbox = Inbox()
    await bus.subscribe("t", inbox)
    for n in range(10):
        await bus.publish("t", bytes([n]))
    await bus.close()
    assert len(inbox.items) == 10
    with pytest.raises(PubSubClosedError):
        await bus.publish("t", b"late")
    with pytest.raises(PubSubClosedError):
        await bus.subscribe("u", inbox)
    await bus.close()  # idempotent


def test_buffer_size_must_be_positive():
    with pytest.raises(ValueError):
        LocalPubSub(buffer_size=0)


async def test_pond_close_closes_its_pubsub(make_pond):
    bus = LocalPubSub()
    pond = make_pond(pubsub=bus)
    assert pond.pubsub is bus
    await pond.close()
    with pytest.raises(PubSubClosedError):
        await bus.publish("t", b"x")
