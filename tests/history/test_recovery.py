"""History and recovery on rejoin, over in-memory transports: offsets, the join answer,
replay in order and exactly once, failed recoveries, bad input, upstream clients unchanged."""

from __future__ import annotations

from typing import Any

import pytest

from pondsocket import EventContext, IncomingConnection, InMemoryTransport, JoinContext
from pondsocket.history import HistoryOptions, enable_history
from tests.core.helpers import event_msg, frames, join_msg

CHANNEL = "/chat/1"


@pytest.fixture
def seen_params() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def lobby(endpoint, seen_params):
    async def join(ctx: JoinContext) -> None:
        seen_params.append(dict(ctx.join_params))
        await ctx.accept()

    lobby = endpoint.create_channel("/chat/:room", join)

    async def say(ctx: EventContext) -> None:
        await ctx.broadcast("say", ctx.payload)

    async def others(ctx: EventContext) -> None:
        await ctx.broadcast_from("others", ctx.payload)

    async def some(ctx: EventContext) -> None:
        await ctx.broadcast_to("some", ctx.payload, *ctx.payload["to"])

    lobby.on_message("say", say)
    lobby.on_message("others", others)
    lobby.on_message("some", some)
    return lobby


@pytest.fixture
def history(lobby):
    return enable_history(lobby, HistoryOptions(size=10, recovery_limit=8))


async def connect(endpoint, uid: str, *, ext: tuple[str, ...] = ("history",)
                  ) -> InMemoryTransport:
    ctx = await endpoint.request_connection(IncomingConnection(
        uid, "127.0.0.1", query={}, extensions=frozenset(ext)))
    transport = InMemoryTransport(uid, assigns=ctx.assigns)
    await endpoint.register_transport(transport, ctx)
    first = await transport.receive_json()
    assert first["action"] == "CONNECT"
    return transport


async def join(transport: InMemoryTransport, payload: dict[str, Any] | None = None
               ) -> list[dict[str, Any]]:
    message = join_msg(CHANNEL, payload)
    await transport.push_inbound(message)
    got = await frames(transport)
    assert got and got[0]["requestId"] == message["requestId"], got
    return got


async def say(transport: InMemoryTransport, n: int, event: str = "say",
              **extra: Any) -> None:
    for i in range(n):
        await transport.push_inbound(event_msg(CHANNEL, event, {"n": i, **extra}))
    await transport.drain()


async def test_history_clients_get_offsets_upstream_clients_the_upstream_frame(endpoint,
                                                                               history):
    new, old = await connect(endpoint, "new"), await connect(endpoint, "old", ext=())
    ack_new, ack_old = (await join(new))[0], (await join(old))[0]
    assert ack_old["payload"] == {}
    assert ack_new["payload"]["recovered"] is False
    assert ack_new["payload"]["offset"] == 0 and ack_new["payload"]["epoch"]
    await say(old, 3)
    got_new, got_old = await frames(new), await frames(old)
    assert [f["offset"] for f in got_new] == [1, 2, 3]
    assert [list(f) for f in got_old] == [
        ["action", "event", "channelName", "requestId", "payload"]] * 3
    assert [f["requestId"] for f in got_new] == [f["requestId"] for f in got_old]


async def test_rejoin_replays_the_missed_broadcasts_in_order_then_live(endpoint, history,
                                                                      seen_params):
    sender, reader = await connect(endpoint, "sender"), await connect(endpoint, "reader")
    await join(sender)
    ack = (await join(reader))[0]["payload"]
    await say(sender, 2)
    assert [f["offset"] for f in await frames(reader)] == [1, 2]
    await reader.push_inbound({"action": "LEAVE_CHANNEL", "event": "LEAVE_CHANNEL",
                               "channelName": CHANNEL, "requestId": "l", "payload": {}})
    await frames(reader)
    await say(sender, 5)  # missed
    got = await join(reader, {"name": "r", "pond_recover": {"epoch": ack["epoch"],
                                                            "offset": 2}})
    assert got[0]["payload"] == {"recovered": True, "epoch": ack["epoch"], "offset": 2}
    assert [(f["offset"], f["payload"]["n"]) for f in got[1:]] == [
        (3, 0), (4, 1), (5, 2), (6, 3), (7, 4)]
    await say(sender, 1)
    assert [f["offset"] for f in await frames(reader)] == [8]
    assert seen_params[-1] == {"name": "r"}  # pond_recover never reaches the handler


async def test_nothing_missed_is_a_recovery_with_nothing_to_replay(endpoint, history):
    a = await connect(endpoint, "a")
    ack = (await join(a))[0]["payload"]
    await say(a, 2)
    await frames(a)
    await endpoint.close_connection("a")
    b = await connect(endpoint, "a")
    got = await join(b, {"pond_recover": {"epoch": ack["epoch"], "offset": 2}})
    assert got == [got[0]] and got[0]["payload"]["recovered"] is True


@pytest.mark.parametrize(("since", "reason"), [
    ({"epoch": "another", "offset": 1}, "epoch changed"),
    ({"epoch": None, "offset": 99}, "offset from the future"),
    ({"epoch": None, "offset": 1}, "too many missed messages"),  # 11 missed > 8
])
async def test_impossible_recovery_is_reported_and_replays_nothing(endpoint, history, since,
                                                                   reason):
    a, b = await connect(endpoint, "a"), await connect(endpoint, "b")
    epoch = (await join(a))[0]["payload"]["epoch"]
    await say(a, 12)
    got = await join(b, {"pond_recover": {**since, "epoch": since["epoch"] or epoch}})
    assert got == [got[0]]
    assert got[0]["payload"] == {"recovered": False, "epoch": epoch, "offset": 12,
                                 "reason": reason}


async def test_an_offset_trimmed_away_is_too_old(endpoint, lobby):
    enable_history(lobby, HistoryOptions(size=3))
    a, b = await connect(endpoint, "a"), await connect(endpoint, "b")
    epoch = (await join(a))[0]["payload"]["epoch"]
    await say(a, 5)
    got = await join(b, {"pond_recover": {"epoch": epoch, "offset": 1}})
    assert got[0]["payload"]["reason"] == "offset too old" and len(got) == 1
    c = await connect(endpoint, "c")
    got = await join(c, {"pond_recover": {"epoch": epoch, "offset": 2}})
    assert got[0]["payload"]["recovered"] is True
    assert [f["offset"] for f in got[1:]] == [3, 4, 5]


async def test_replay_keeps_who_each_broadcast_was_for(endpoint, history):
    a, b = await connect(endpoint, "a"), await connect(endpoint, "b")
    epoch = (await join(a))[0]["payload"]["epoch"]
    await join(b)
    await say(a, 1, "others")        # 1: not for a
    await say(a, 1, "some", to=["b"])  # 2: only b
    await say(a, 1, "some", to=["a"])  # 3: only a
    await say(b, 1, "others")        # 4: for a
    await endpoint.close_connection("a")
    a2 = await connect(endpoint, "a")
    got = await join(a2, {"pond_recover": {"epoch": epoch, "offset": 0}})
    assert [(f["event"], f["offset"]) for f in got[1:]] == [("some", 3), ("others", 4)]


@pytest.mark.parametrize("bad", [
    "x", {"epoch": 1, "offset": 0}, {"epoch": "", "offset": 0}, {"epoch": "e"},
    {"epoch": "e", "offset": -1}, {"epoch": "e", "offset": True},
    {"epoch": "e", "offset": 1.5}, {"epoch": "e", "offset": 2 ** 60},
])
async def test_a_malformed_position_is_an_error_frame_and_the_server_goes_on(
        endpoint, history, bad, seen_params):
    a = await connect(endpoint, "a")
    message = join_msg(CHANNEL, {"pond_recover": bad})
    await a.push_inbound(message)
    (error,) = await frames(a)
    assert (error["action"], error["event"], error["requestId"]) == (
        "ERROR", "INVALID_MESSAGE", message["requestId"])
    assert error["payload"]["code"] == 400
    assert error["payload"]["message"].startswith("pond_recover")
    assert seen_params == []
    assert (await join(a))[0]["payload"]["recovered"] is False


async def test_upstream_clients_keep_their_join_params_and_frames(endpoint, history,
                                                                  seen_params):
    old = await connect(endpoint, "old", ext=())
    got = await join(old, {"pond_recover": {"epoch": "e", "offset": 1}})
    assert got[0]["payload"] == {}
    assert seen_params == [{"pond_recover": {"epoch": "e", "offset": 1}}]


async def test_a_lobby_without_history_answers_history_clients_as_before(endpoint, lobby):
    a = await connect(endpoint, "a")
    assert (await join(a))[0]["payload"] == {}
    await say(a, 1)
    assert "offset" not in (await frames(a))[0]


async def test_server_code_reads_a_channels_history(endpoint, history):
    a = await connect(endpoint, "a")
    await join(a)
    await say(a, 3)
    position = await history.position(CHANNEL)
    entries = await history.read(CHANNEL, after=1)
    assert position.offset == 3
    assert [(e.offset, e.event, e.payload) for e in entries] == [
        (2, "say", {"n": 1}), (3, "say", {"n": 2})]


async def test_a_new_process_is_a_new_epoch(endpoint, lobby):
    first = enable_history(lobby)
    epoch = (await first.position(CHANNEL)).epoch
    second = enable_history(lobby)  # a restart: a fresh in-memory store
    a = await connect(endpoint, "a")
    got = await join(a, {"pond_recover": {"epoch": epoch, "offset": 0}})
    assert got[0]["payload"]["reason"] == "epoch changed"
    assert got[0]["payload"]["epoch"] == (await second.position(CHANNEL)).epoch != epoch


async def test_a_payload_that_cannot_be_sent_is_never_stored(endpoint, history):
    a = await connect(endpoint, "a")
    await join(a)
    channel = await endpoint.match_lobby(CHANNEL)[0].get_channel(CHANNEL)
    with pytest.raises(TypeError):
        await channel.broadcast("say", {"bad": object()})
    await channel.broadcast("say", {"ok": 1})
    assert [e.offset for e in await history.read(CHANNEL)] == [1]
    assert [f["offset"] for f in await frames(a)] == [1]
