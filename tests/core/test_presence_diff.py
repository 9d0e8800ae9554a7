"""The presence-diff extension: one STATE, then DIFFs keyed by opaque per-channel keys."""

from __future__ import annotations

import asyncio
from typing import Any

from pondsocket import IncomingConnection, Options
from pondsocket.presence import PRESENCE_TURN_BYTES
from pondsocket.transport.base import BaseTransport
from pondsocket.transport.memory import InMemoryTransport
from tests.core.helpers import accept_and_track, accept_connection, event_msg, frames, join


async def diff_client(endpoint, uid: str, extensions=("presence-diff",)) -> InMemoryTransport:
    ctx = await endpoint.request_connection(
        IncomingConnection(uid, "127.0.0.1", extensions=frozenset(extensions)))
    transport = InMemoryTransport(uid, assigns=ctx.assigns)
    await endpoint.register_transport(transport, ctx)
    connect = await transport.receive_json()
    assert connect["action"] == "CONNECT"
    if extensions:
        assert connect["payload"]["extensions"] == ["presence-diff"]
    return transport


def presence(got: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f["event"], f["payload"]) for f in got if f["action"] == "PRESENCE"]


async def setup(make_pond, window: float = 60.0):
    pond = make_pond(Options(presence_coalesce_window=window))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/room/:id", accept_and_track)

    async def say(ctx) -> None:
        await ctx.broadcast("said", ctx.payload)

    async def rename(ctx) -> None:
        await ctx.update_presence({"name": ctx.payload["name"]})

    lobby.on_message("say", say)
    lobby.on_message("rename", rename)
    return endpoint, lobby


async def test_state_then_diffs_keyed_by_opaque_keys(make_pond):
    endpoint, lobby = await setup(make_pond)
    alice = await diff_client(endpoint, "alice")
    assert presence(await join(alice, "/room/1")) == []  # the STATE waits for the window
    channel = await lobby.get_channel("/room/1")
    await channel.flush_presence()
    ((event, state),) = presence(await frames(alice))
    assert event == "STATE" and set(state) == {"self", "state"}
    me = state["self"]
    assert state["state"] == {me: {"name": "alice"}} and me != "alice"

    bob = await diff_client(endpoint, "bob")
    await join(bob, "/room/1")
    await bob.push_inbound(event_msg("/room/1", "rename", {"name": "bobby"}))
    bob_got = await frames(bob)
    await channel.flush_presence()
    bob_got += await frames(bob)
    # The join went out before the update (two events, as without diffs), then the update.
    bob_key = channel.presence_key("bob")
    assert presence(await frames(alice)) == [
        ("DIFF", {"joins": {bob_key: {"name": "bob"}}, "leaves": {}}),
        ("DIFF", {"joins": {bob_key: {"name": "bobby"}}, "leaves": {}})]
    assert presence(bob_got) == [
        ("STATE", {"self": bob_key, "state": {me: {"name": "alice"}, bob_key: {"name": "bob"}}}),
        ("DIFF", {"joins": {bob_key: {"name": "bobby"}}, "leaves": {}})]

    await channel.remove_user("bob")
    await channel.flush_presence()
    assert presence(await frames(alice)) == [
        ("DIFF", {"joins": {}, "leaves": {bob_key: {"name": "bobby"}}})]


async def test_a_join_and_leave_within_one_window_send_nothing(make_pond):
    endpoint, lobby = await setup(make_pond)
    alice = await diff_client(endpoint, "alice")
    await join(alice, "/room/1")
    channel = await lobby.get_channel("/room/1")
    await channel.flush_presence()
    await frames(alice)
    bob = await diff_client(endpoint, "bob")
    await join(bob, "/room/1")
    await channel.remove_user("bob")
    await channel.flush_presence()
    assert presence(await frames(alice)) == []


async def test_no_message_overtakes_a_presence_change(make_pond):
    endpoint, _ = await setup(make_pond)
    alice = await diff_client(endpoint, "alice")
    await join(alice, "/room/1")
    bob = await diff_client(endpoint, "bob")
    await join(bob, "/room/1")
    await bob.push_inbound(event_msg("/room/1", "say", {"text": "hi"}))
    got = await frames(alice)
    assert [(f["action"], f["event"]) for f in got] == [("PRESENCE", "STATE"),
                                                        ("BROADCAST", "said")]
    assert len(got[0]["payload"]["state"]) == 2


async def test_upstream_members_keep_their_frames_in_the_same_channel(make_pond):
    endpoint, _ = await setup(make_pond, window=0)
    old = await diff_client(endpoint, "old", extensions=())
    got = await join(old, "/room/1")
    assert presence(got) == [("JOIN", {"presence": [{"name": "old"}],
                                       "changed": {"name": "old"}})]
    new = await diff_client(endpoint, "new")
    assert [event for event, _ in presence(await join(new, "/room/1"))] == ["STATE"]
    assert presence(await frames(old)) == [
        ("JOIN", {"presence": [{"name": "old"}, {"name": "new"}], "changed": {"name": "new"}})]


async def test_outgoing_presence_handlers_turn_diffs_off(make_pond):
    """Diffs would bypass a handler that redacts presence per recipient: in such a lobby
    every member gets the upstream frames, through the handler."""
    endpoint, lobby = await setup(make_pond, window=0)

    async def redact(ctx) -> None:
        ctx.transform({**ctx.event.payload, "changed": {"name": "?"}})

    lobby.on_outgoing("JOIN", redact)
    alice = await diff_client(endpoint, "alice")
    assert presence(await join(alice, "/room/1")) == [
        ("JOIN", {"presence": [{"name": "alice"}], "changed": {"name": "?"}})]


async def test_big_states_yield_to_other_channels_by_size(make_pond):
    """STATEs of a big presence are queued about 1 MiB per loop turn, not 128 at once."""
    pond = make_pond(Options(presence_coalesce_window=60, max_presence_size=0,
                             send_channel_buffer=64))
    endpoint = pond.create_endpoint("/socket", accept_connection)

    async def big(ctx) -> None:
        await ctx.accept()
        await ctx.track({"blob": "x" * (PRESENCE_TURN_BYTES // 4)})

    lobby = endpoint.create_channel("/room/:id", big)
    users = [await diff_client(endpoint, f"u{i}") for i in range(8)]
    for user in users:
        await join(user, "/room/1")
    channel = await lobby.get_channel("/room/1")
    before = BaseTransport.frames_queued_total
    ran_during: list[int] = []

    async def bystander() -> None:
        ran_during.append(BaseTransport.frames_queued_total - before)

    await asyncio.gather(channel.flush_presence(), bystander())
    assert ran_during == [1]  # each 2 MiB STATE is a loop turn of its own
    for user in users:
        ((event, state),) = presence(await frames(user))
        assert event == "STATE" and len(state["state"]) == 8
