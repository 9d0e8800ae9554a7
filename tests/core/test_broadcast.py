"""Client events: handlers, reply, broadcast recipients, request ids, ordering."""

from __future__ import annotations

import pytest

from pondsocket import EventContext
from tests.core.helpers import accept_join, connect, event_msg, frames, join, only


@pytest.fixture
def lobby(endpoint):
    lobby = endpoint.create_channel("/chat/:room", accept_join)

    async def everyone(ctx: EventContext) -> None:
        await ctx.broadcast("everyone", ctx.payload)

    async def others(ctx: EventContext) -> None:
        await ctx.broadcast_from("others", ctx.payload)

    async def some(ctx: EventContext) -> None:
        await ctx.broadcast_to("some", ctx.payload, *ctx.payload["to"])

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", {"t": 1})

    lobby.on_message("everyone", everyone)
    lobby.on_message("others", others)
    lobby.on_message("some", some)
    lobby.on_message("ping", ping)
    return lobby


@pytest.fixture
async def members(endpoint, lobby):
    clients = {}
    for uid in ("alice", "bob", "carol"):
        clients[uid] = await connect(endpoint, uid)
        await join(clients[uid], "/chat/1")
    for transport in clients.values():
        await frames(transport)
    return clients


async def received(members) -> dict[str, list[dict]]:
    return {uid: await frames(t) for uid, t in members.items()}


async def test_broadcast_reaches_every_member_with_a_fresh_request_id(members):
    await members["alice"].push_inbound(event_msg("/chat/1", "everyone", {"text": "hi"},
                                                  request_id="msg-1"))
    got = await received(members)
    frames_ = [only(got[uid]) for uid in ("alice", "bob", "carol")]
    for frame in frames_:
        assert frame["action"] == "BROADCAST"
        assert (frame["event"], frame["channelName"], frame["payload"]) == (
            "everyone", "/chat/1", {"text": "hi"})
        assert frame["requestId"] != "msg-1"
    assert len({f["requestId"] for f in frames_}) == 1  # one frame, shared


async def test_each_broadcast_gets_its_own_request_id(members):
    alice = members["alice"]
    await alice.push_inbound(event_msg("/chat/1", "everyone", {}, request_id="same"))
    await alice.push_inbound(event_msg("/chat/1", "everyone", {}, request_id="same"))
    first, second = await frames(alice)
    assert first["requestId"] != second["requestId"]


async def test_broadcast_from_excludes_the_sender(members):
    await members["alice"].push_inbound(event_msg("/chat/1", "others", {"x": 1}))
    got = await received(members)
    assert got["alice"] == []
    assert [f["event"] for f in got["bob"]] == ["others"]
    assert [f["event"] for f in got["carol"]] == ["others"]


async def test_broadcast_to_reaches_only_listed_members(members):
    await members["alice"].push_inbound(
        event_msg("/chat/1", "some", {"to": ["carol", "nobody", "carol"]}))
    got = await received(members)
    assert got["alice"] == [] and got["bob"] == []
    assert [f["event"] for f in got["carol"]] == ["some"]  # once, despite the duplicate id


async def test_reply_goes_to_the_sender_with_its_request_id(members):
    await members["bob"].push_inbound(event_msg("/chat/1", "ping", request_id="ping-1"))
    got = await received(members)
    assert only(got["bob"]) == {"action": "SYSTEM", "event": "pong", "channelName": "/chat/1",
                                "requestId": "ping-1", "payload": {"t": 1}}
    assert got["alice"] == [] and got["carol"] == []


async def test_second_reply_raises(endpoint, lobby):
    outcome = []

    async def twice(ctx: EventContext) -> None:
        await ctx.reply("first", {})
        assert ctx.has_replied()
        try:
            await ctx.reply("second", {})
        except RuntimeError as exc:
            outcome.append(exc)

    lobby.on_message("twice", twice)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "twice", request_id="r"))
    assert [(f["event"], f["requestId"]) for f in await frames(alice)] == [("first", "r")]
    assert len(outcome) == 1


async def test_reply_payload_must_be_an_object(endpoint, lobby):
    async def bad(ctx: EventContext) -> None:
        await ctx.reply("x", ["not", "an", "object"])

    lobby.on_message("bad", bad)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "bad", request_id="r"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["requestId"], frame["payload"]["code"]) == ("ERROR", "r", 500)


async def test_reply_never_overtakes_an_earlier_broadcast(endpoint, lobby):
    async def both(ctx: EventContext) -> None:
        await ctx.broadcast("news", {"n": 1})
        await ctx.reply("ack", {})
        await ctx.broadcast("news", {"n": 2})

    lobby.on_message("both", both)
    # A slow reader: frames pile up in its queue, yet their order is kept.
    alice = await connect(endpoint, "alice", outbox_limit=1)
    await alice.push_inbound({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                              "channelName": "/chat/1", "requestId": "j", "payload": {}})
    await alice.push_inbound(event_msg("/chat/1", "both", request_id="r"))
    got = [await alice.receive_json() for _ in range(4)]
    assert [(f["event"], f["payload"]) for f in got] == [
        ("ACKNOWLEDGE", {}), ("news", {"n": 1}), ("ack", {}), ("news", {"n": 2})]


async def test_frames_keep_the_order_they_were_produced_in(members):
    alice, bob = members["alice"], members["bob"]
    for n in range(50):
        await alice.push_inbound(event_msg("/chat/1", "everyone", {"n": n}))
    assert [f["payload"]["n"] for f in await frames(bob)] == list(range(50))


async def test_event_patterns_capture_params_and_first_match_wins(endpoint, lobby):
    seen = []

    async def by_id(ctx: EventContext) -> None:
        seen.append(("by_id", ctx.route.params, ctx.event_name))

    async def catch_all(ctx: EventContext) -> None:
        seen.append(("catch_all", ctx.route.wildcard, ctx.event_name))

    lobby.on_message("message/:id", by_id)
    lobby.on_message("message/*", catch_all)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "message/123"))
    await alice.push_inbound(event_msg("/chat/1", "message/a/b"))
    assert await frames(alice) == []
    assert seen == [("by_id", {"id": "123"}, "message/123"),
                    ("catch_all", "a/b", "message/a/b")]


async def test_event_context_exposes_the_message(endpoint, lobby):
    seen = {}

    async def inspect(ctx: EventContext) -> None:
        seen.update(event=ctx.event_name, payload=ctx.get_payload(), rid=ctx.request_id,
                    user=ctx.get_user().id, channel=ctx.channel.name,
                    room=ctx.channel.route.params, event_route=ctx.route.params)

    lobby.on_message("inspect", inspect)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/7")
    await alice.push_inbound(event_msg("/chat/7", "inspect", {"k": "v"}, request_id="r7"))
    assert seen == {"event": "inspect", "payload": {"k": "v"}, "rid": "r7", "user": "alice",
                    "channel": "/chat/7", "room": {"room": "7"},
                    "event_route": {}}


async def test_event_middlewares_wrap_the_handler(endpoint, lobby):
    order = []

    async def mw(ctx: EventContext, next_) -> None:
        order.append("before")
        await next_()
        order.append("after")

    async def handler(ctx: EventContext) -> None:
        order.append("handler")

    lobby.on_message("mw", handler, mw)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "mw"))
    assert order == ["before", "handler", "after"]


async def test_server_side_channel_broadcast(members, lobby):
    channel = await lobby.get_channel("/chat/1")
    await channel.broadcast_to("direct", {"n": 1}, "bob")
    await channel.broadcast_from("not-bob", {}, "bob")
    await channel.broadcast("all", {})
    got = await received(members)
    assert [f["event"] for f in got["bob"]] == ["direct", "all"]
    assert [f["event"] for f in got["alice"]] == ["not-bob", "all"]
    assert [f["event"] for f in got["carol"]] == ["not-bob", "all"]
