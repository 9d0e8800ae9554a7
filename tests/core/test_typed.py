"""The typed API: schemas, typed lobbies and contexts, object conversion."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import pytest

from pondsocket import (
    PondEvent,
    TypedChannel,
    TypedEventContext,
    TypedJoinContext,
    from_pond_object,
    pond_event,
    pond_schema,
    to_pond_object,
    typed_lobby,
)
from tests.core.helpers import connect, event_msg, frames, join, join_msg, only


@dataclass
class JoinParams:
    name: str
    color: str = "blue"


@dataclass
class Presence:
    name: str
    status: str = "online"


@dataclass
class Assigns:
    role: str = "member"
    tags: list[str] = field(default_factory=list)


@dataclass
class Message:
    text: str


@dataclass
class Ack:
    ok: bool
    length: int


class Plain(TypedDict):
    a: int


SCHEMA = pond_schema("chat", presence_type=Presence, assigns_type=Assigns,
                     join_params_type=JoinParams)
SAY = pond_event("say", Message, Ack)
SAID = pond_event("said", Message)


def test_to_pond_object():
    assert to_pond_object(None) == {}
    assert to_pond_object({"a": 1}) == {"a": 1}
    assert to_pond_object(Assigns("admin", ["x"])) == {"role": "admin", "tags": ["x"]}
    assert to_pond_object(Plain(a=1)) == {"a": 1}
    with pytest.raises(TypeError):
        to_pond_object(42)
    with pytest.raises(TypeError):
        to_pond_object(Assigns)  # a class, not an instance


def test_from_pond_object():
    assert from_pond_object({"name": "n"}, JoinParams) == JoinParams("n")
    # Unknown keys are ignored, so newer clients do not break older servers.
    assert from_pond_object({"name": "n", "extra": 1}, JoinParams) == JoinParams("n")
    assert from_pond_object({"a": 1}, Plain) == {"a": 1}
    assert from_pond_object({"a": 1}, dict) == {"a": 1}
    assert from_pond_object({"a": 1}) == {"a": 1}
    assert from_pond_object(None, JoinParams) is None
    value = Presence("p")
    assert from_pond_object(to_pond_object(value), Presence) == value


def test_schema_and_event_declarations():
    assert isinstance(SAY, PondEvent)
    assert (SAY.name, SAY.payload_type, SAY.response_type) == ("say", Message, Ack)
    assert (SCHEMA.name, SCHEMA.presence_type, SCHEMA.assigns_type,
            SCHEMA.join_params_type) == ("chat", Presence, Assigns, JoinParams)


@pytest.fixture
def typed(endpoint):
    seen = {}

    async def on_join(ctx: TypedJoinContext[Presence, Assigns, JoinParams]) -> None:
        params = ctx.join_params
        seen["params"] = params
        assert isinstance(ctx.channel, TypedChannel)
        if params.name == "mallory":
            await ctx.decline(403, "no mallory")
            return
        await ctx.accept(Assigns(role="admin" if params.name == "root" else "member"))
        await ctx.track(Presence(params.name))
        seen["presence"] = await ctx.get_all_presence()

    lobby = endpoint.create_typed_channel(SCHEMA, "/typed/:room", on_join)

    async def say(ctx: TypedEventContext[Message, Presence, Assigns]) -> None:
        message = ctx.payload
        seen["say"] = (message, ctx.event_name, ctx.user.id, ctx.assigns, ctx.presence)
        await ctx.broadcast_from(SAID, message)
        await ctx.reply(SAY, Ack(ok=True, length=len(message.text)))

    lobby.on(SAY, say)
    return lobby, seen


async def test_typed_join_and_event(endpoint, typed):
    lobby, seen = typed
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    got = await join(alice, "/typed/1", {"name": "root", "color": "red"})
    assert seen["params"] == JoinParams("root", "red")
    assert got[1]["payload"]["changed"] == {"name": "root", "status": "online"}
    assert seen["presence"] == {"alice": Presence("root")}
    await join(bob, "/typed/1", {"name": "bob"})
    await frames(alice)
    await alice.push_inbound(event_msg("/typed/1", "say", {"text": "hello"}, request_id="s"))
    message, name, user_id, assigns, presence = seen["say"]
    assert (message, name, user_id) == (Message("hello"), "say", "alice")
    assert assigns == Assigns(role="admin") and presence == Presence("root")
    assert only(await frames(alice)) == {"action": "SYSTEM", "event": "say",
                                         "channelName": "/typed/1", "requestId": "s",
                                         "payload": {"ok": True, "length": 5}}
    said = only(await frames(bob))
    assert (said["event"], said["payload"]) == ("said", {"text": "hello"})
    channel = await lobby.get_channel("/typed/1")
    assert isinstance(channel, TypedChannel) and channel.name == "/typed/1"
    assert await channel.get_presence() == {"alice": Presence("root"), "bob": Presence("bob")}
    assigns_by_user = await channel.get_assigns()
    assert assigns_by_user["alice"].role == "admin" and assigns_by_user["bob"].role == "member"
    assert await lobby.get_channel("/typed/none") is None


async def test_typed_decline(endpoint, typed):
    alice = await connect(endpoint, "alice")
    await alice.push_inbound(join_msg("/typed/1", {"name": "mallory"}, request_id="j"))
    assert only(await frames(alice))["payload"] == {"code": 403, "message": "no mallory"}


async def test_typed_channel_server_side_operations(endpoint, typed):
    lobby, _ = typed
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/typed/1", {"name": "a"})
    await join(bob, "/typed/1", {"name": "b"})
    await frames(alice)
    channel = await lobby.get_channel("/typed/1")
    await channel.broadcast(SAID, Message("all"))
    await channel.broadcast_to(SAID, Message("bob only"), "bob")
    await channel.broadcast_from(SAID, Message("not bob"), "bob")
    await channel.update_presence("bob", Presence("b", "away"))
    assert [f["payload"].get("text") for f in await frames(alice)] == ["all", "not bob", None]
    bob_frames = await frames(bob)
    assert [f["payload"].get("text") for f in bob_frames[:2]] == ["all", "bob only"]
    assert bob_frames[2]["payload"]["changed"] == {"name": "b", "status": "away"}
    assert channel.raw is lobby.raw.channels["/typed/1"]


async def test_typed_lobby_wraps_an_existing_lobby(endpoint):
    async def on_join(ctx) -> None:
        await ctx.accept()

    raw = endpoint.create_channel("/plain/:room", on_join)
    lobby = typed_lobby(raw, SCHEMA)
    assert lobby.raw is raw

    async def say(ctx: TypedEventContext[Message, Presence, Assigns]) -> None:
        await ctx.reply(SAY, Ack(ok=True, length=len(ctx.payload.text)))

    lobby.on(SAY, say)
    alice = await connect(endpoint, "alice")
    await join(alice, "/plain/1")
    await alice.push_inbound(event_msg("/plain/1", "say", {"text": "abc"}))
    assert only(await frames(alice))["payload"] == {"ok": True, "length": 3}
