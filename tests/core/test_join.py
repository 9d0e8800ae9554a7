"""Joining channels: acknowledge, decline, no match, handler failures, duplicates."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket import JoinContext, PondError, forbidden
from tests.core.helpers import (
    accept_and_track,
    accept_join,
    connect,
    event_msg,
    frames,
    join,
    join_msg,
    leave_msg,
    only,
)


async def test_join_accepted_is_acknowledged_with_the_join_request_id(endpoint):
    endpoint.create_channel("/chat/:room", accept_join)
    alice = await connect(endpoint, "alice")
    message = join_msg("/chat/1", {"name": "alice"}, request_id="join-a")
    await alice.push_inbound(message)
    ack = only(await frames(alice))
    assert ack == {"action": "SYSTEM", "event": "ACKNOWLEDGE", "channelName": "/chat/1",
                   "requestId": "join-a", "payload": {}}


async def test_acknowledge_comes_before_any_presence_frame(endpoint):
    endpoint.create_channel("/chat/:room", accept_and_track)
    alice = await connect(endpoint, "alice")
    await alice.push_inbound(join_msg("/chat/1", {"name": "alice"}, request_id="j1"))
    got = await frames(alice)
    assert [(f["action"], f["event"]) for f in got] == [("SYSTEM", "ACKNOWLEDGE"),
                                                        ("PRESENCE", "JOIN")]
    assert got[1]["payload"] == {"presence": [{"name": "alice"}], "changed": {"name": "alice"}}


async def test_join_declined_sends_unauthorized_code_and_message(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.decline(403, "denied")

    endpoint.create_channel("/chat/:room", on_join)
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(join_msg("/chat/2", request_id="join-deny"))
    assert only(await frames(bob)) == {
        "action": "SYSTEM", "event": "UNAUTHORIZED", "channelName": "/chat/2",
        "requestId": "join-deny", "payload": {"code": 403, "message": "denied"}}


async def test_no_matching_pattern_is_unauthorized_404(endpoint):
    endpoint.create_channel("/chat/:room", accept_join)
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(join_msg("/other/2", request_id="join-nf"))
    frame = only(await frames(bob))
    assert (frame["action"], frame["event"], frame["channelName"], frame["requestId"]) == (
        "SYSTEM", "UNAUTHORIZED", "/other/2", "join-nf")
    assert frame["payload"]["code"] == 404
    assert isinstance(frame["payload"]["message"], str)


async def test_join_handler_raising_pond_error_declines_with_its_code(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        raise forbidden(ctx.channel.name, "members only")

    endpoint.create_channel("/chat/:room", on_join)
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(join_msg("/chat/1", request_id="j"))
    frame = only(await frames(bob))
    assert (frame["event"], frame["requestId"]) == ("UNAUTHORIZED", "j")
    assert frame["payload"] == {"code": 403, "message": "members only"}


async def test_join_handler_raising_other_exception_declines_500_without_leaking(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        raise KeyError("internal-table-name")

    endpoint.create_channel("/chat/:room", on_join)
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(join_msg("/chat/1", request_id="j"))
    frame = only(await frames(bob))
    assert frame["event"] == "UNAUTHORIZED"
    assert frame["payload"]["code"] == 500
    assert "internal-table-name" not in frame["payload"]["message"]


async def test_join_handler_not_deciding_declines_500(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        return None

    endpoint.create_channel("/chat/:room", on_join)
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(join_msg("/chat/1", request_id="j"))
    frame = only(await frames(bob))
    assert (frame["event"], frame["requestId"], frame["payload"]["code"]) == (
        "UNAUTHORIZED", "j", 500)


async def test_declined_join_leaves_no_membership_and_destroys_the_channel(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.decline(401, "no")

    lobby = endpoint.create_channel("/chat/:room", on_join)
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(join_msg("/chat/1"))
    await frames(bob)
    assert lobby.channels == {}
    await bob.push_inbound(event_msg("/chat/1", "message", request_id="m"))
    frame = only(await frames(bob))
    assert (frame["action"], frame["event"], frame["payload"]["code"]) == (
        "ERROR", "UNAUTHORIZED_BROADCAST", 403)


async def test_duplicate_join_is_a_409_channel_error(endpoint):
    endpoint.create_channel("/chat/:room", accept_join)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(join_msg("/chat/1", request_id="again"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["event"], frame["channelName"], frame["requestId"]) == (
        "ERROR", "CHANNEL_ERROR", "/chat/1", "again")
    assert frame["payload"]["code"] == 409
    assert isinstance(frame["payload"]["message"], str)


async def test_duplicate_join_while_the_first_is_pending_is_a_409(endpoint):
    entered = asyncio.Event()
    gate = asyncio.Event()

    async def slow(ctx: JoinContext) -> None:
        entered.set()
        await gate.wait()
        await ctx.accept()

    endpoint.create_channel("/chat/:room", slow)
    alice = await connect(endpoint, "alice")
    first = asyncio.create_task(alice.push_inbound(join_msg("/chat/1", request_id="j1")))
    await entered.wait()
    await alice.push_inbound(join_msg("/chat/1", request_id="j2"))
    gate.set()
    await first
    got = await frames(alice)
    assert sorted((f["event"], f["requestId"]) for f in got) == [
        ("ACKNOWLEDGE", "j1"), ("CHANNEL_ERROR", "j2")]


async def test_first_matching_pattern_owns_the_join(endpoint):
    async def decline(ctx: JoinContext) -> None:
        await ctx.decline(403, "first")

    endpoint.create_channel("/chat/:room", decline)
    endpoint.create_channel("/chat/*", accept_join)
    alice = await connect(endpoint, "alice")
    await alice.push_inbound(join_msg("/chat/1"))
    frame = only(await frames(alice))
    assert frame["payload"] == {"code": 403, "message": "first"}
    with pytest.raises(ValueError):
        endpoint.create_channel("/chat/:room", accept_join)


async def test_join_context_exposes_params_route_and_query(endpoint):
    seen = {}

    async def on_join(ctx: JoinContext) -> None:
        seen.update(params=ctx.join_params, route=ctx.route.params, query=ctx.route.query,
                    user=ctx.user_id, channel=ctx.channel.name,
                    get=ctx.get_join_params())
        await ctx.accept()

    endpoint.create_channel("/rooms/:room_id", on_join)
    alice = await connect(endpoint, "alice")
    await join(alice, "/rooms/42?mode=ro", {"pw": "x"})
    assert seen == {"params": {"pw": "x"}, "route": {"room_id": "42"},
                    "query": {"mode": ["ro"]}, "user": "alice", "channel": "/rooms/42?mode=ro",
                    "get": {"pw": "x"}}


async def test_channel_key_is_the_exact_channel_name(endpoint):
    lobby = endpoint.create_channel("/chat/:room", accept_join)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/2")
    await join(alice, "/chat/2?foo=bar")
    assert sorted(lobby.channels) == ["/chat/2", "/chat/2?foo=bar"]


async def test_join_reply_goes_to_the_joiner_after_the_ack(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        with pytest.raises(RuntimeError):
            await ctx.reply("too-early", {})
        await ctx.accept()
        await ctx.reply("welcome", {"motd": "hi"})

    endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    got = await join(alice, "/chat/1")
    assert [(f["action"], f["event"]) for f in got] == [("SYSTEM", "ACKNOWLEDGE"),
                                                        ("SYSTEM", "welcome")]
    assert got[1]["payload"] == {"motd": "hi"}
    assert got[1]["requestId"] == got[0]["requestId"]


async def test_track_before_accept_is_an_error_and_declines(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.track({"x": 1})

    endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    await alice.push_inbound(join_msg("/chat/1"))
    frame = only(await frames(alice))
    assert frame["event"] == "UNAUTHORIZED" and frame["payload"]["code"] == 500


async def test_join_can_only_be_answered_once(endpoint):
    errors = []

    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()
        for call in (ctx.accept(), ctx.decline(403, "late")):
            try:
                await call
            except RuntimeError as exc:
                errors.append(exc)

    endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    got = await join(alice, "/chat/1")
    assert len(got) == 1
    assert len(errors) == 2


async def test_join_handler_broadcast_reaches_existing_members(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()
        await ctx.broadcast_from("joined", {"who": ctx.user_id})

    endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    got = await join(bob, "/chat/1")
    assert len(got) == 1  # bob does not hear his own broadcast_from
    frame = only(await frames(alice))
    assert (frame["action"], frame["event"], frame["payload"]) == (
        "BROADCAST", "joined", {"who": "bob"})


async def test_concurrent_join_survives_a_declined_join_of_the_same_channel(endpoint):
    """A join still pending when another join of the same channel is declined (leaving the
    channel empty) must land in the live channel, not in a closed one."""
    alice_waiting = asyncio.Event()
    release_alice = asyncio.Event()

    async def on_join(ctx: JoinContext) -> None:
        if ctx.user_id == "alice":
            alice_waiting.set()
            await release_alice.wait()
        if ctx.user_id == "bob":
            await ctx.decline(403, "no")
        else:
            await ctx.accept()

    lobby = endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    carol = await connect(endpoint, "carol")
    pending = asyncio.create_task(alice.push_inbound(join_msg("/chat/1")))
    await alice_waiting.wait()
    await bob.push_inbound(join_msg("/chat/1"))
    assert only(await frames(bob))["event"] == "UNAUTHORIZED"
    release_alice.set()
    await pending
    assert only(await frames(alice))["event"] == "ACKNOWLEDGE"
    channel = lobby.channels.get("/chat/1")
    assert channel is not None and channel.is_active and await channel.has_user("alice")
    # Someone joining now is in the same channel as alice.
    await join(carol, "/chat/1")
    assert sorted(lobby.channels["/chat/1"].user_ids()) == ["alice", "carol"]


async def test_concurrent_join_survives_the_last_member_leaving(endpoint):
    late_waiting = asyncio.Event()
    release = asyncio.Event()

    async def on_join(ctx: JoinContext) -> None:
        if ctx.user_id == "late":
            late_waiting.set()
            await release.wait()
        await ctx.accept()

    lobby = endpoint.create_channel("/chat/:room", on_join)
    early = await connect(endpoint, "early")
    late = await connect(endpoint, "late")
    await join(early, "/chat/1")
    pending = asyncio.create_task(late.push_inbound(join_msg("/chat/1")))
    await late_waiting.wait()
    await early.push_inbound(leave_msg("/chat/1"))
    release.set()
    await pending
    assert only(await frames(late))["event"] == "ACKNOWLEDGE"
    channel = lobby.channels.get("/chat/1")
    assert channel is not None and channel.is_active
    assert channel.user_ids() == ["late"]


async def test_join_accepted_after_the_connection_closed_leaves_no_ghost(endpoint):
    waiting = asyncio.Event()
    release = asyncio.Event()
    left = []

    async def on_join(ctx: JoinContext) -> None:
        waiting.set()
        await release.wait()
        await ctx.accept()
        await ctx.track({"name": ctx.user_id})

    lobby = endpoint.create_channel("/chat/:room", on_join)

    async def on_leave(ctx) -> None:
        left.append((ctx.user.id, ctx.reason))

    lobby.on_leave(on_leave)
    alice = await connect(endpoint, "alice")
    pending = asyncio.create_task(alice.push_inbound(join_msg("/chat/1")))
    await waiting.wait()
    alice.disconnect()
    await alice.wait_closed()
    release.set()
    await pending
    assert lobby.channels == {}
    assert left == [("alice", "connection_closed")]


async def test_join_middlewares_wrap_the_handler(endpoint):
    order = []

    async def mw(ctx: JoinContext, next_) -> None:
        order.append("mw")
        if ctx.join_params.get("deny"):
            raise PondError("middleware says no", 401)
        await next_()

    async def on_join(ctx: JoinContext) -> None:
        order.append("handler")
        await ctx.accept()

    endpoint.create_channel("/chat/:room", on_join, mw)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(join_msg("/chat/2", {"deny": True}))
    assert only(await frames(alice))["payload"] == {"code": 401,
                                                    "message": "middleware says no"}
    assert order == ["mw", "handler", "mw"]


async def test_join_accepted_into_a_channel_closed_meanwhile_is_declined(endpoint):
    waiting = asyncio.Event()
    release = asyncio.Event()

    async def on_join(ctx: JoinContext) -> None:
        waiting.set()
        await release.wait()
        await ctx.accept()

    lobby = endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    pending = asyncio.create_task(alice.push_inbound(join_msg("/chat/1", request_id="j")))
    await waiting.wait()
    await lobby.close()  # e.g. the server shutting the lobby down
    release.set()
    await pending
    frame = only(await frames(alice))
    assert (frame["event"], frame["requestId"], frame["payload"]["code"]) == (
        "UNAUTHORIZED", "j", 503)
    assert lobby.channels == {}
