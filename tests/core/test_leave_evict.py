"""Leaving a channel, eviction, disconnection and channel lifetime."""

from __future__ import annotations

import pytest

from pondsocket import EventContext, JoinContext, LeaveContext
from tests.core.helpers import (
    accept_and_track,
    connect,
    event_msg,
    frames,
    join,
    join_msg,
    leave_msg,
    only,
)


@pytest.fixture
def lobby(endpoint):
    lobby = endpoint.create_channel("/chat/:room", accept_and_track)
    lobby.left = []

    async def on_leave(ctx: LeaveContext) -> None:
        lobby.left.append((ctx.get_user().id, ctx.get_reason(),
                           await ctx.remaining_user_count()))

    lobby.on_leave(on_leave)

    async def evict(ctx: EventContext) -> None:
        await ctx.evict(ctx.payload.get("reason", "bye"), *ctx.payload.get("ids", []))

    async def echo(ctx: EventContext) -> None:
        await ctx.broadcast("echo", ctx.payload)

    lobby.on_message("evict", evict)
    lobby.on_message("echo", echo)
    return lobby


async def two_members(endpoint):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1", {"name": "alice"})
    await join(bob, "/chat/1", {"name": "bob"})
    await frames(alice)
    return alice, bob


async def test_leave_sends_presence_leave_to_others_then_exit_acknowledge(endpoint, lobby):
    alice, bob = await two_members(endpoint)
    await bob.push_inbound(leave_msg("/chat/1", request_id="leave-b"))
    assert only(await frames(bob)) == {
        "action": "SYSTEM", "event": "EXIT_ACKNOWLEDGE", "channelName": "/chat/1",
        "requestId": "leave-b", "payload": {}}
    leave = only(await frames(alice))
    assert (leave["action"], leave["event"]) == ("PRESENCE", "LEAVE")
    assert leave["payload"] == {"presence": [{"name": "alice"}], "changed": {"name": "bob"}}
    assert lobby.left == [("bob", "explicit_leave", 1)]


async def test_leave_handler_runs_before_the_exit_acknowledge(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()

    lobby = endpoint.create_channel("/chat/:room", on_join)

    async def on_leave(ctx: LeaveContext) -> None:
        await ctx.broadcast("left", {"who": ctx.user.id})
        with pytest.raises(RuntimeError):
            await ctx.broadcast_from("again", {})

    lobby.on_leave(on_leave)
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await bob.push_inbound(leave_msg("/chat/1", request_id="l"))
    assert [f["event"] for f in await frames(bob)] == ["EXIT_ACKNOWLEDGE"]
    frame = only(await frames(alice))
    assert (frame["event"], frame["payload"]) == ("left", {"who": "bob"})


async def test_leave_context_still_sees_the_users_assigns(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept({"seat": 7})

    lobby = endpoint.create_channel("/chat/:room", on_join)
    seen = []

    async def on_leave(ctx: LeaveContext) -> None:
        seen.append((ctx.get_assign("seat"), ctx.user.presence))

    lobby.on_leave(on_leave)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(leave_msg("/chat/1"))
    await frames(alice)
    assert seen == [(7, None)]


async def test_leave_of_a_channel_not_joined_is_an_error_404(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    await alice.push_inbound(leave_msg("/chat/9", request_id="l9"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["channelName"], frame["requestId"]) == (
        "ERROR", "/chat/9", "l9")
    assert frame["payload"]["code"] == 404
    assert lobby.left == []


async def test_second_leave_is_a_404(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(leave_msg("/chat/1"))
    assert only(await frames(alice))["event"] == "EXIT_ACKNOWLEDGE"
    await alice.push_inbound(leave_msg("/chat/1"))
    assert only(await frames(alice))["payload"]["code"] == 404


async def test_channel_is_destroyed_when_its_last_member_leaves(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    channel = lobby.channels["/chat/1"]
    await alice.push_inbound(leave_msg("/chat/1"))
    await frames(alice)
    assert lobby.channels == {}
    assert not channel.is_active
    # Joining again creates a fresh channel.
    await join(alice, "/chat/1")
    assert lobby.channels["/chat/1"] is not channel


async def test_eviction(endpoint, lobby):
    alice, bob = await two_members(endpoint)
    await alice.push_inbound(event_msg("/chat/1", "evict", {"reason": "spam", "ids": ["bob"]}))
    evicted = only(await frames(bob))
    assert (evicted["action"], evicted["event"], evicted["channelName"]) == (
        "SYSTEM", "EVICTED", "/chat/1")
    assert evicted["payload"] == {"reason": "spam"}
    leave = only(await frames(alice))
    assert (leave["action"], leave["event"]) == ("PRESENCE", "LEAVE")
    assert leave["payload"] == {"presence": [{"name": "alice"}], "changed": {"name": "bob"}}
    assert lobby.left == [("bob", "evicted", 1)]
    # The evicted user's connection stays open: it is no longer a member, but may rejoin.
    assert bob.is_active()
    await bob.push_inbound(event_msg("/chat/1", "echo", request_id="after"))
    frame = only(await frames(bob))
    assert (frame["event"], frame["requestId"], frame["payload"]["code"]) == (
        "UNAUTHORIZED_BROADCAST", "after", 403)
    await join(bob, "/chat/1", {"name": "bob"})


async def test_self_eviction_of_the_last_member_closes_the_channel(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "evict", {"reason": "done"}))
    assert only(await frames(alice))["payload"] == {"reason": "done"}
    assert lobby.channels == {}
    assert lobby.left == [("alice", "evicted", 0)]


async def test_evicting_a_non_member_is_a_no_op(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    channel = lobby.channels["/chat/1"]
    assert await channel.evict_user("ghost", "x") is False
    assert await frames(alice) == []


async def test_disconnect_leaves_every_channel_with_connection_closed(endpoint, lobby):
    alice, bob = await two_members(endpoint)
    await join(bob, "/chat/2", {"name": "bob"})
    bob.disconnect()
    await bob.wait_closed()
    leave = only(await frames(alice))
    assert (leave["event"], leave["payload"]["changed"]) == ("LEAVE", {"name": "bob"})
    assert sorted(lobby.left) == [("bob", "connection_closed", 0),
                                  ("bob", "connection_closed", 1)]
    assert list(lobby.channels) == ["/chat/1"]
    assert await endpoint.connection_count() == 1


async def test_closing_a_channel_evicts_its_members(endpoint, lobby):
    alice, bob = await two_members(endpoint)
    channel = lobby.channels["/chat/1"]
    await channel.close("maintenance")
    for transport in (alice, bob):
        frame = only(await frames(transport))
        assert (frame["event"], frame["payload"]) == ("EVICTED", {"reason": "maintenance"})
    assert lobby.channels == {}
    assert sorted(r for _, r, _ in lobby.left) == ["channel_closed", "channel_closed"]
    # Membership is gone on the connection side as well.
    await alice.push_inbound(join_msg("/chat/1", {"name": "alice"}, request_id="again"))
    assert (await frames(alice))[0]["event"] == "ACKNOWLEDGE"
