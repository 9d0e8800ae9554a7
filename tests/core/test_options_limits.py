"""Bounded outbound queues: overflow policies, send timeout, slow consumers."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket import (
    Hooks,
    IncomingConnection,
    InMemoryTransport,
    LeaveContext,
    Options,
    OverflowPolicy,
)
from tests.core.helpers import accept_connection, accept_join, connect, frames, join


async def setup(make_pond, options: Options, on_leave=None):
    pond = make_pond(options)
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/chat/:room", accept_join)
    if on_leave is not None:
        lobby.on_leave(on_leave)
    return endpoint, lobby


async def test_overflow_close_closes_with_1013(make_pond):
    endpoint, lobby = await setup(make_pond, Options(send_channel_buffer=4))
    slow = await connect(endpoint, "slow", outbox_limit=1)
    fast = await connect(endpoint, "fast")
    await join(slow, "/chat/1")
    await join(fast, "/chat/1")
    channel = lobby.channels["/chat/1"]
    for n in range(10):
        await channel.broadcast("n", {"n": n})
        await fast.drain()  # the fast reader keeps up; the slow one never reads
    await slow.wait_closed()
    assert slow.close_code == 1013
    assert "overflow" in slow.close_reason
    assert slow.dropped_frames >= 1
    # The slow member is gone from the channel and the endpoint; the fast one got everything.
    assert channel.user_ids() == ["fast"]
    assert await endpoint.connection_count() == 1
    assert [f["payload"]["n"] for f in await frames(fast)] == list(range(10))


async def test_drop_oldest_keeps_the_newest_and_counts_drops(make_pond):
    endpoint, lobby = await setup(make_pond, Options(send_channel_buffer=3,
                                                     overflow_policy="drop_oldest"))
    slow = await connect(endpoint, "slow", outbox_limit=1)
    fast = await connect(endpoint, "fast")
    await join(slow, "/chat/1")
    await join(fast, "/chat/1")
    channel = lobby.channels["/chat/1"]
    for n in range(20):
        await channel.broadcast("n", {"n": n})
        await fast.drain()
    assert slow.dropped_frames > 0
    expected = 20 - slow.dropped_frames
    received = [(await slow.receive_json())["payload"]["n"] for _ in range(expected)]
    await slow.drain()
    assert slow.outbox_size() == 0
    assert received == sorted(received)  # order is kept
    assert received[-3:] == [17, 18, 19]  # the newest survive
    assert slow.is_active()
    assert [f["payload"]["n"] for f in await frames(fast)] == list(range(20))


async def test_overflow_policy_is_validated():
    assert Options(overflow_policy="drop_oldest").overflow_policy is OverflowPolicy.DROP_OLDEST
    with pytest.raises(ValueError):
        Options(overflow_policy="block")


async def test_send_timeout_closes_a_stalled_connection_and_cleans_up(make_pond):
    left = []
    disconnected = []

    async def on_leave(ctx: LeaveContext) -> None:
        # Cleanup that really suspends (a database write, say) must still run to completion
        # when the writer times out.
        await asyncio.sleep(0)
        await ctx.broadcast("left", {"who": ctx.user.id})
        left.append((ctx.channel.name, ctx.reason))

    async def on_disconnect(transport) -> None:
        disconnected.append(transport.get_id())

    endpoint, lobby = await setup(
        make_pond, Options(send_timeout=0.05, hooks=Hooks(on_disconnect=on_disconnect)),
        on_leave)
    stalled = await connect(endpoint, "stalled", outbox_limit=1)
    other = await connect(endpoint, "other")
    for room in ("/chat/1", "/chat/2"):
        await join(stalled, room)
        await join(other, room)
    await lobby.channels["/chat/1"].broadcast("a", {})  # fills the stalled outbox
    await lobby.channels["/chat/1"].broadcast("b", {})  # this write cannot complete
    await stalled.wait_closed()
    assert (stalled.close_code, stalled.close_reason) == (1013, "send timeout")
    assert sorted(left) == [("/chat/1", "connection_closed"), ("/chat/2", "connection_closed")]
    assert disconnected == ["stalled"]
    assert await endpoint.connection_count() == 1
    assert [ch.user_ids() for ch in lobby.channels.values()] == [["other"], ["other"]]
    assert [f["event"] for f in await frames(other)] == ["a", "b", "left", "left"]


async def test_a_slow_member_never_stalls_the_others(make_pond):
    endpoint, lobby = await setup(make_pond, Options(send_channel_buffer=1000))
    slow = await connect(endpoint, "slow", outbox_limit=1)
    fast = [await connect(endpoint, f"fast{i}") for i in range(3)]
    for transport in (slow, *fast):
        await join(transport, "/chat/1")
    channel = lobby.channels["/chat/1"]
    for n in range(100):
        await channel.broadcast("n", {"n": n})
    for transport in fast:
        assert [f["payload"]["n"] for f in await frames(transport)] == list(range(100))
    assert slow.is_active()
    assert slow.queue_depth > 0  # still waiting for its reader
    # Once the slow reader reads, it gets everything, in order.
    got = [(await slow.receive_json())["payload"]["n"] for _ in range(100)]
    assert got == list(range(100))


async def test_options_are_validated():
    for bad in ({"max_message_size": 0}, {"max_connections": -1},
                {"send_channel_buffer": 0}, {"send_timeout": 0}):
        with pytest.raises(ValueError):
            Options(**bad)


async def test_options_reach_registered_transports(make_pond):
    pond = make_pond(Options(max_message_size=10, send_channel_buffer=7, send_timeout=3,
                             overflow_policy="drop_oldest"))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    transport = await connect(endpoint, "u")
    assert (transport.max_message_size, transport.queue_limit, transport.send_timeout,
            transport.overflow_policy) == (10, 7, 3, OverflowPolicy.DROP_OLDEST)


class BreakingTransport(InMemoryTransport):
    """An in-memory peer whose connection breaks: every write fails once ``broken``."""

    broken = False

    async def _write(self, frame) -> None:
        if self.broken:
            raise ConnectionResetError("peer went away")
        await super()._write(frame)


async def test_a_failed_write_closes_the_connection_and_still_cleans_up(make_pond):
    left = []

    async def on_leave(ctx: LeaveContext) -> None:
        await asyncio.sleep(0)  # cleanup that really suspends
        left.append((ctx.channel.name, ctx.reason))

    endpoint, lobby = await setup(make_pond, Options(), on_leave)
    ctx = await endpoint.request_connection(IncomingConnection("b", "127.0.0.1"))
    broken = BreakingTransport("b", assigns=ctx.assigns)
    await endpoint.register_transport(broken, ctx)
    await broken.receive_json()  # CONNECT
    other = await connect(endpoint, "other")
    for room in ("/chat/1", "/chat/2"):
        await join(broken, room)
        await join(other, room)
    broken.broken = True
    await lobby.channels["/chat/1"].broadcast("a", {})
    await broken.wait_closed()
    assert (broken.close_code, broken.close_reason) == (1001, "write failed")
    assert sorted(left) == [("/chat/1", "connection_closed"), ("/chat/2", "connection_closed")]
    assert await endpoint.connection_count() == 1
