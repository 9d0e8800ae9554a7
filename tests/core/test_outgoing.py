"""Outgoing handlers (per recipient transform/block) and the encode-once fast path."""

from __future__ import annotations

import json

import pytest

from pondsocket import BaseTransport, EventContext, JoinContext, OutgoingContext
from tests.core.helpers import connect, event_msg, frames, join, only


def dumps(value) -> bytes:
    """Compact UTF-8 JSON, as a client would send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def lobby(endpoint):
    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept({"lang": ctx.join_params.get("lang", "en")})
        if ctx.join_params.get("track"):
            await ctx.track({"name": ctx.user_id})

    lobby = endpoint.create_channel("/chat/:room", on_join)

    async def relay(ctx: EventContext) -> None:
        await ctx.broadcast(ctx.payload["as"], ctx.payload)

    async def ask(ctx: EventContext) -> None:
        await ctx.reply("secret.answer", {"x": 1})

    lobby.on_message("relay", relay)
    lobby.on_message("ask", ask)
    return lobby


@pytest.fixture
async def members(endpoint, lobby):
    clients = {}
    for uid, lang in (("alice", "en"), ("bob", "fr"), ("carol", "en")):
        clients[uid] = await connect(endpoint, uid)
        await join(clients[uid], "/chat/1", {"lang": lang})
    for transport in clients.values():
        await frames(transport)
    return clients


@pytest.fixture
def sent(monkeypatch):
    """Every (transport id, Frame) queued through BaseTransport.send_frame."""
    calls: list[tuple[str, object]] = []
    original = BaseTransport.send_frame

    def spy(self, frame):
        calls.append((self.id, frame))
        return original(self, frame)

    monkeypatch.setattr(BaseTransport, "send_frame", spy)
    return calls


async def test_without_outgoing_handler_one_frame_object_reaches_everyone(members, sent):
    await members["alice"].push_inbound(event_msg("/chat/1", "relay", {"as": "news", "n": 1}))
    assert sorted(uid for uid, _ in sent) == ["alice", "bob", "carol"]
    first = sent[0][1]
    assert all(frame is first for _, frame in sent)
    for transport in members.values():
        assert dumps(only(await frames(transport))) == first.data


async def test_transform_per_recipient(lobby, members, sent):
    async def translate(ctx: OutgoingContext) -> None:
        if ctx.get_assign("lang") == "fr":
            ctx.transform({**ctx.get_payload(), "text": "bonjour"})

    lobby.on_outgoing("greeting", translate)
    await members["alice"].push_inbound(event_msg("/chat/1", "relay",
                                                  {"as": "greeting", "text": "hello"}))
    texts = {uid: only(await frames(t))["payload"]["text"] for uid, t in members.items()}
    assert texts == {"alice": "hello", "bob": "bonjour", "carol": "hello"}
    # Every recipient got a frame encoded for it.
    assert len({id(frame) for _, frame in sent}) == 3


async def test_block_per_recipient(lobby, members):
    async def not_to_bob(ctx: OutgoingContext) -> None:
        if ctx.user.id == "bob":
            ctx.block()

    lobby.on_outgoing("news", not_to_bob)
    await members["alice"].push_inbound(event_msg("/chat/1", "relay", {"as": "news"}))
    got = {uid: await frames(t) for uid, t in members.items()}
    assert got["bob"] == []
    assert len(got["alice"]) == 1 and len(got["carol"]) == 1


async def test_unblock_and_context_accessors(lobby, members):
    seen = []

    async def inspect(ctx: OutgoingContext) -> None:
        ctx.block()
        assert ctx.is_blocked()
        ctx.unblock()
        seen.append((ctx.get_event(), ctx.get_user().id, ctx.has_transformed(),
                     ctx.channel.name, ctx.route.params))

    lobby.on_outgoing("news/:topic", inspect)
    await members["alice"].push_inbound(event_msg("/chat/1", "relay", {"as": "news/sport"}))
    assert sorted(seen) == [("news/sport", uid, False, "/chat/1", {"topic": "sport"})
                            for uid in ("alice", "bob", "carol")]
    for transport in members.values():
        assert only(await frames(transport))["event"] == "news/sport"


async def test_outgoing_handler_only_applies_to_matching_events(lobby, members, sent):
    async def block_all(ctx: OutgoingContext) -> None:
        ctx.block()

    lobby.on_outgoing("private", block_all)
    await members["alice"].push_inbound(event_msg("/chat/1", "relay", {"as": "public"}))
    for transport in members.values():
        assert only(await frames(transport))["event"] == "public"
    assert len({id(frame) for _, frame in sent}) == 1


async def test_outgoing_handlers_do_not_touch_replies(lobby, members):
    async def block_all(ctx: OutgoingContext) -> None:
        ctx.block()

    lobby.on_outgoing("secret.*", block_all)
    lobby.on_outgoing("*", block_all)
    await members["alice"].push_inbound(event_msg("/chat/1", "ask", request_id="q"))
    assert only(await frames(members["alice"]))["event"] == "secret.answer"


async def test_a_failing_outgoing_handler_skips_only_that_recipient(lobby, members):
    async def flaky(ctx: OutgoingContext) -> None:
        if ctx.user.id == "carol":
            raise RuntimeError("boom")
        ctx.transform({"ok": ctx.user.id})

    lobby.on_outgoing("news", flaky)
    await members["alice"].push_inbound(event_msg("/chat/1", "relay", {"as": "news"}))
    assert only(await frames(members["alice"]))["payload"] == {"ok": "alice"}
    assert only(await frames(members["bob"]))["payload"] == {"ok": "bob"}
    assert await frames(members["carol"]) == []


async def test_outgoing_handlers_see_presence_frames(endpoint, lobby):
    async def hide_names(ctx: OutgoingContext) -> None:
        payload = ctx.get_payload()
        ctx.transform({"presence": [{} for _ in payload["presence"]], "changed": {}})

    lobby.on_outgoing("JOIN", hide_names)
    alice = await connect(endpoint, "alice")
    got = await join(alice, "/chat/1", {"track": True})
    assert got[1]["payload"] == {"presence": [{}], "changed": {}}


async def test_outgoing_middlewares_and_refresh_user(lobby, members):
    order = []

    async def mw(ctx: OutgoingContext, next_) -> None:
        order.append(("mw", ctx.user.id))
        await next_()

    async def handler(ctx: OutgoingContext) -> None:
        await ctx.refresh_user()
        order.append(("handler", ctx.user.id, ctx.user.assigns["lang"]))

    lobby.on_outgoing("news", handler, mw)
    channel = lobby.channels["/chat/1"]
    await channel.update_assign("bob", "lang", "de")
    await channel.broadcast_to("news", {}, "bob")
    assert order == [("mw", "bob"), ("handler", "bob", "de")]
