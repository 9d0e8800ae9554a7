"""Assigns: server-private per-user data, per channel, never sent to clients."""

from __future__ import annotations

import json

import pytest

from pondsocket import ConnectionContext, EventContext, JoinContext
from tests.core.helpers import connect, event_msg, frames, join


def dumps(value) -> bytes:
    """Compact UTF-8 JSON, as a client would send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def endpoint(pond):
    async def auth(ctx: ConnectionContext) -> None:
        ctx.accept(role="member", secret="s3cr3t")

    return pond.create_endpoint("/socket", auth)


@pytest.fixture
def seen():
    return []


@pytest.fixture
def lobby(endpoint, seen):
    async def on_join(ctx: JoinContext) -> None:
        seen.append(("join-user", dict(ctx.user.assigns)))
        await ctx.set_assign("pending", True)
        await ctx.accept(ctx.join_params.get("assigns"))
        seen.append(("join-get", await ctx.get_assign("pending")))

    lobby = endpoint.create_channel("/room/:id", on_join)

    async def show(ctx: EventContext) -> None:
        seen.append((ctx.channel.name, dict(ctx.user.assigns)))

    async def remember(ctx: EventContext) -> None:
        await ctx.set_assign("note", ctx.payload["note"])
        await ctx.assign({"count": ctx.payload.get("count", 0)})
        seen.append(("after-set", await ctx.get_assign("note")))

    async def everyone(ctx: EventContext) -> None:
        seen.append(("all", await ctx.get_all_assigns()))

    lobby.on_message("show", show)
    lobby.on_message("remember", remember)
    lobby.on_message("everyone", everyone)
    return lobby


async def test_connection_assigns_are_copied_into_the_channel(endpoint, lobby, seen):
    alice = await connect(endpoint, "alice")
    await join(alice, "/room/1")
    await alice.push_inbound(event_msg("/room/1", "show"))
    assert seen == [
        ("join-user", {"role": "member", "secret": "s3cr3t"}),
        ("join-get", True),
        ("/room/1", {"role": "member", "secret": "s3cr3t", "pending": True}),
    ]


async def test_join_assigns_stay_in_their_channel(endpoint, lobby, seen):
    alice = await connect(endpoint, "alice")
    await join(alice, "/room/1", {"assigns": {"seat": 1, "role": "admin"}})
    await join(alice, "/room/2")
    await alice.push_inbound(event_msg("/room/1", "show"))
    await alice.push_inbound(event_msg("/room/2", "show"))
    shown = dict(entry for entry in seen if entry[0].startswith("/room"))
    assert shown["/room/1"] == {"role": "admin", "secret": "s3cr3t", "pending": True,
                                "seat": 1}
    assert shown["/room/2"] == {"role": "member", "secret": "s3cr3t", "pending": True}
    # The connection-level assigns are untouched.
    assert alice.clone_assigns() == {"role": "member", "secret": "s3cr3t"}


async def test_event_assigns_persist_in_the_channel_only(endpoint, lobby, seen):
    alice = await connect(endpoint, "alice")
    await join(alice, "/room/1")
    await join(alice, "/room/2")
    await alice.push_inbound(event_msg("/room/1", "remember", {"note": "n1", "count": 3}))
    await alice.push_inbound(event_msg("/room/1", "show"))
    await alice.push_inbound(event_msg("/room/2", "show"))
    shown = [entry for entry in seen if entry[0] in ("/room/1", "/room/2", "after-set")]
    assert shown[0] == ("after-set", "n1")
    assert shown[1] == ("/room/1", {"role": "member", "secret": "s3cr3t", "pending": True,
                                    "note": "n1", "count": 3})
    assert shown[2] == ("/room/2", {"role": "member", "secret": "s3cr3t", "pending": True})


async def test_get_all_assigns_and_channel_reads(endpoint, lobby, seen):
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/room/1")
    await join(bob, "/room/1", {"assigns": {"seat": 2}})
    await alice.push_inbound(event_msg("/room/1", "everyone"))
    everyone = dict(seen)["all"]
    assert everyone["bob"]["seat"] == 2 and "seat" not in everyone["alice"]
    channel = lobby.channels["/room/1"]
    assert await channel.get_user_assign("bob", "seat") == 2
    await channel.update_assign("bob", "seat", 3)
    assert (await channel.get_assigns())["bob"]["seat"] == 3
    # Reads are copies.
    (await channel.get_assigns())["bob"]["seat"] = 99
    assert await channel.get_user_assign("bob", "seat") == 3


async def test_assigns_are_never_sent_to_clients(endpoint, lobby):
    alice = await connect(endpoint, "alice", read_connect=False)
    bob = await connect(endpoint, "bob", read_connect=False)
    await alice.push_inbound({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                              "channelName": "/room/1", "requestId": "j",
                              "payload": {}})
    await bob.push_inbound({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                            "channelName": "/room/1", "requestId": "j2",
                            "payload": {}})
    await alice.push_inbound(event_msg("/room/1", "remember", {"note": "x"}))
    await alice.push_inbound(event_msg("/room/1", "everyone"))
    everything = dumps(await frames(alice) + await frames(bob))
    assert b"s3cr3t" not in everything
