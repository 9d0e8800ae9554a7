"""Presence: JOIN/UPDATE/LEAVE frames, their payloads and their recipients."""

from __future__ import annotations

import pytest

from pondsocket import EventContext, JoinContext, PondError, PresenceClient
from tests.core.helpers import connect, event_msg, frames, join, leave_msg, only


@pytest.fixture
def lobby(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()
        if not ctx.join_params.get("lurk"):
            await ctx.track({"name": ctx.user_id, "status": "online"})

    lobby = endpoint.create_channel("/chat/:room", on_join)

    async def status(ctx: EventContext) -> None:
        await ctx.update_presence({"name": ctx.user.id, "status": ctx.payload["status"]},
                                  *ctx.payload.get("ids", []))

    async def untrack(ctx: EventContext) -> None:
        await ctx.untrack()

    async def track(ctx: EventContext) -> None:
        await ctx.track(ctx.payload)

    async def upsert(ctx: EventContext) -> None:
        await ctx.upsert_presence(ctx.payload)

    lobby.on_message("status", status)
    lobby.on_message("untrack", untrack)
    lobby.on_message("track", track)
    lobby.on_message("upsert", upsert)
    return lobby


def presence_of(frame: dict) -> tuple[str, list, dict]:
    assert frame["action"] == "PRESENCE"
    assert set(frame["payload"]) == {"presence", "changed"}
    return frame["event"], frame["payload"]["presence"], frame["payload"]["changed"]


ALICE = {"name": "alice", "status": "online"}
BOB = {"name": "bob", "status": "online"}


async def test_join_presence_goes_to_every_tracked_member(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    got = await join(alice, "/chat/1")
    assert presence_of(got[1]) == ("JOIN", [ALICE], ALICE)
    got = await join(bob, "/chat/1")
    assert presence_of(got[1]) == ("JOIN", [ALICE, BOB], BOB)
    assert presence_of(only(await frames(alice))) == ("JOIN", [ALICE, BOB], BOB)


async def test_update_presence_changed_is_the_new_object_and_order_is_kept(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await frames(alice)
    await alice.push_inbound(event_msg("/chat/1", "status", {"status": "away"}))
    away = {"name": "alice", "status": "away"}
    for transport in (alice, bob):
        assert presence_of(only(await frames(transport))) == ("UPDATE", [away, BOB], away)


async def test_leave_presence_goes_to_the_others_only(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await frames(alice)
    await bob.push_inbound(leave_msg("/chat/1"))
    assert [f["action"] for f in await frames(bob)] == ["SYSTEM"]  # no LEAVE for the leaver
    assert presence_of(only(await frames(alice))) == ("LEAVE", [ALICE], BOB)


async def test_untracked_members_receive_no_presence_frames(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    lurker = await connect(endpoint, "lurker")
    await join(lurker, "/chat/1", {"lurk": True})
    await join(alice, "/chat/1")
    assert await frames(lurker) == []
    await alice.push_inbound(event_msg("/chat/1", "status", {"status": "busy"}))
    await alice.push_inbound(leave_msg("/chat/1"))
    assert await frames(lurker) == []


async def test_untrack_sends_leave_and_keeps_the_membership(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await frames(alice)
    await bob.push_inbound(event_msg("/chat/1", "untrack"))
    assert await frames(bob) == []  # bob is no longer tracked: no presence frames for him
    assert presence_of(only(await frames(alice))) == ("LEAVE", [ALICE], BOB)
    channel = lobby.channels["/chat/1"]
    assert await channel.has_user("bob")
    # Untracking again is a no-op.
    await bob.push_inbound(event_msg("/chat/1", "untrack"))
    assert await frames(alice) == [] and await frames(bob) == []


async def test_retracked_member_goes_to_the_end_of_the_list(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "untrack"))
    await alice.push_inbound(event_msg("/chat/1", "track", {"name": "alice", "v": 2}))
    last = (await frames(bob))[-1]
    assert presence_of(last) == ("JOIN", [BOB, {"name": "alice", "v": 2}],
                                 {"name": "alice", "v": 2})


async def test_track_twice_is_409_and_update_untracked_is_404(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    lurker = await connect(endpoint, "lurker")
    await join(alice, "/chat/1")
    await join(lurker, "/chat/1", {"lurk": True})
    await frames(alice)
    await alice.push_inbound(event_msg("/chat/1", "track", {"again": True}, request_id="t"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["requestId"], frame["payload"]["code"]) == ("ERROR", "t", 409)
    await lurker.push_inbound(event_msg("/chat/1", "status", {"status": "x"}, request_id="u"))
    frame = only(await frames(lurker))
    assert (frame["action"], frame["requestId"], frame["payload"]["code"]) == ("ERROR", "u", 404)


async def test_upsert_tracks_then_updates(endpoint, lobby):
    lurker = await connect(endpoint, "lurker")
    await join(lurker, "/chat/1", {"lurk": True})
    await lurker.push_inbound(event_msg("/chat/1", "upsert", {"v": 1}))
    await lurker.push_inbound(event_msg("/chat/1", "upsert", {"v": 2}))
    got = await frames(lurker)
    assert [presence_of(f) for f in got] == [("JOIN", [{"v": 1}], {"v": 1}),
                                             ("UPDATE", [{"v": 2}], {"v": 2})]


async def test_presence_of_other_users_by_id(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await frames(alice)
    await alice.push_inbound(event_msg("/chat/1", "status", {"status": "kicked",
                                                              "ids": ["bob"]}))
    expected = {"name": "alice", "status": "kicked"}
    # The update replaces bob's object wholesale (no merge).
    assert presence_of(only(await frames(bob))) == ("UPDATE", [ALICE, expected], expected)


async def test_presence_must_be_an_object(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()
        await ctx.track(["not", "a", "dict"])

    endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    got = await join(alice, "/chat/1")
    # Acknowledged, no malformed presence frame, and the failure after the accept is told.
    assert [(f["action"], f["event"]) for f in got] == [
        ("SYSTEM", "ACKNOWLEDGE"), ("ERROR", "INTERNAL_SERVER_ERROR")]
    assert got[1]["requestId"] == got[0]["requestId"]


async def test_presence_is_readable_by_handlers_and_the_presence_client(endpoint, lobby):
    alice = await connect(endpoint, "alice")
    lurker = await connect(endpoint, "lurker")
    await join(alice, "/chat/1")
    await join(lurker, "/chat/1", {"lurk": True})
    channel = lobby.channels["/chat/1"]
    assert await channel.get_presence() == {"alice": ALICE}
    user = await channel.get_user("alice")
    assert user.presence == ALICE
    assert (await channel.get_user("lurker")).presence is None
    client = PresenceClient(channel)
    assert await client.get_all() == {"alice": ALICE}
    assert await client.has("alice") and not await client.has("lurker")
    assert await client.keys() == ["alice"] and await client.len() == 1
    await client.upsert("lurker", {"name": "l"})
    assert await client.values() == [ALICE, {"name": "l"}]
    with pytest.raises(PondError):
        await client.get("nobody")
    # Reads are snapshots: mutating them does not change the channel.
    (await channel.get_presence())["alice"]["status"] = "hacked"
    assert (await client.get("alice"))["status"] == "online"
