"""The SDK against a server with handles: reconnect and rejoin, the outbound queue while
disconnected, timeouts with late answers, give-up on refusal, errors of every kind."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket_tools.client import (
    ChannelState,
    ConnectionLostError,
    ConnectionState,
    HandshakeRejectedError,
    JoinDeclinedError,
    JoinTimeoutError,
    QueueFullError,
    RequestTimeoutError,
    ServerError,
)

from .apps import build_lab
from .conftest import TIMEOUT


@pytest.fixture
async def lab(start_app):
    controls = build_lab()
    server = await start_app(controls.app)
    controls.server = server
    return controls


def lab_client(make_client, lab, name: str, **overrides):
    return make_client(lab.server.url, {"token": "demo", "name": name}, **overrides)


async def wait_for_state(client, predicate) -> None:
    """Wait (bounded) for a state change that satisfies ``predicate(change)``."""
    seen = asyncio.Event()
    remove = client.on_state_change(lambda change: seen.set() if predicate(change) else None)
    try:
        await asyncio.wait_for(seen.wait(), TIMEOUT)
    finally:
        remove()


def retrying(change) -> bool:
    return change.state is ConnectionState.DISCONNECTED and change.retry_in is not None


async def test_late_reply_after_timeout_does_not_leak(lab, make_client) -> None:
    client = lab_client(make_client, lab, "ada")
    chat = await client.join("/room/1")
    messages = chat.messages()
    with pytest.raises(RequestTimeoutError) as info:
        await chat.request("late", {}, timeout=0.2)
    assert info.value.event == "late" and isinstance(info.value, TimeoutError)
    lab.release_reply.set()  # the reply goes out now, after the timeout
    await chat.send("echo", {"n": 1})  # answered after the late reply (per-connection order)
    first = await messages.get(TIMEOUT)
    assert (first.event, first.payload) == ("echo", {"n": 1})
    assert messages.pending() == 0


async def test_error_frames_of_every_kind(lab, make_client) -> None:
    client = lab_client(make_client, lab, "ada")
    chat = await client.join("/room/2")
    with pytest.raises(ServerError) as info:
        await chat.request("forbidden", {})
    assert (info.value.code, info.value.kind, info.value.message) == (
        403, "UNAUTHORIZED_BROADCAST", "not for you")
    with pytest.raises(ServerError) as info:
        await chat.request("boom", {})
    assert (info.value.code, info.value.message) == (500, "Internal server error")
    assert "internal detail" not in str(info.value)


async def test_join_declined_with_code_and_message(lab, make_client) -> None:
    client = lab_client(make_client, lab, "ada")
    with pytest.raises(JoinDeclinedError) as info:
        await client.join("/room/3", {"deny": True})
    assert (info.value.code, info.value.message) == (403, "denied")
    assert str(info.value) == "join of /room/3 declined (403): denied"


async def test_join_timeout_then_late_acknowledgement_is_left(lab, make_client) -> None:
    client = lab_client(make_client, lab, "ada")
    with pytest.raises(JoinTimeoutError) as info:
        await client.join("/slow/1", timeout=0.3)
    assert info.value.channel == "/slow/1" and client.channel("/slow/1") is None
    assert lab.join_started.is_set()
    lab.release_join.set()  # the server accepts now: the client must leave at once
    await asyncio.wait_for(lab.slow_left.wait(), TIMEOUT)
    connection = lab.pond.endpoints[0].connections[client.user_id]
    assert "/slow/1" not in connection.channels


async def test_reconnect_rejoins_and_flushes_the_queue_in_order(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada")
    bob = lab_client(make_client, lab, "bob")
    chat_a = await ada.join("/room/4")
    chat_b = await bob.join("/room/4")
    rejoined = asyncio.Event()
    chat_a.on_join(lambda channel: rejoined.set() if channel.joins == 2 else None)
    first_id = ada.user_id

    lab.unavailable = True
    down = asyncio.ensure_future(wait_for_state(ada, retrying))
    await lab.pond.endpoints[0].close_connection(ada.user_id)
    await down
    assert chat_a.state is ChannelState.STALLED and chat_a.presence == []
    for n in range(3):
        await chat_a.send("echo", {"n": n})
    assert ada.queued == 3

    messages = chat_b.messages("echo")
    lab.unavailable = False
    await asyncio.wait_for(rejoined.wait(), TIMEOUT)
    assert chat_a.state is ChannelState.JOINED and ada.user_id != first_id
    assert [(await messages.get(TIMEOUT)).payload["n"] for _ in range(3)] == [0, 1, 2]
    assert ada.queued == 0 and ada.connects == 2


async def test_queue_bound_rejects_when_full(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada", queue_size=2)
    chat = await ada.join("/room/5")
    lab.unavailable = True
    down = asyncio.ensure_future(wait_for_state(ada, retrying))
    await lab.close_all()
    await down
    await chat.send("echo", {"n": 0})
    await chat.send("echo", {"n": 1})
    with pytest.raises(QueueFullError):
        await chat.send("echo", {"n": 2})


async def test_queue_bound_drop_oldest(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada", queue_size=2, queue_overflow="drop_oldest")
    bob = lab_client(make_client, lab, "bob")
    chat_a = await ada.join("/room/6")
    chat_b = await bob.join("/room/6")
    rejoined = asyncio.Event()
    chat_a.on_join(lambda channel: rejoined.set() if channel.joins == 2 else None)
    lab.unavailable = True
    down = asyncio.ensure_future(wait_for_state(ada, retrying))
    await lab.pond.endpoints[0].close_connection(ada.user_id)
    await down
    for n in range(3):
        await chat_a.send("echo", {"n": n})
    messages = chat_b.messages("echo")
    lab.unavailable = False
    await asyncio.wait_for(rejoined.wait(), TIMEOUT)
    assert [(await messages.get(TIMEOUT)).payload["n"] for _ in range(2)] == [1, 2]


async def test_request_in_flight_when_the_connection_drops(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada")
    chat = await ada.join("/room/7")
    pending = asyncio.ensure_future(chat.request("late", {}, timeout=TIMEOUT))
    await asyncio.wait_for(lab.reply_started.wait(), TIMEOUT)
    lab.unavailable = True
    await lab.close_all()
    with pytest.raises(ConnectionLostError, match="may have handled it"):
        await pending
    lab.release_reply.set()  # let the handler finish so the server stops quickly


async def test_request_waits_for_the_rejoin(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada")
    chat = await ada.join("/room/8")
    lab.unavailable = True
    down = asyncio.ensure_future(wait_for_state(ada, retrying))
    await lab.close_all()
    await down
    pending = asyncio.ensure_future(chat.request("ping", {"queued": True}))
    lab.unavailable = False
    reply = await asyncio.wait_for(pending, TIMEOUT)
    assert reply.payload == {"echo": {"queued": True}} and chat.joins == 2


async def test_gives_up_when_reconnect_is_refused(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada")
    chat = await ada.join("/room/9")
    messages = chat.messages()
    gave_up = asyncio.ensure_future(wait_for_state(
        ada, lambda change: change.state is ConnectionState.CLOSED))
    lab.refuse = True
    await lab.close_all()
    await gave_up
    assert isinstance(ada.error, HandshakeRejectedError) and ada.error.status == 401
    with pytest.raises(HandshakeRejectedError):
        await messages.get(TIMEOUT)
    assert chat.state is ChannelState.CLOSED and chat.closed_reason is ada.error
    with pytest.raises(HandshakeRejectedError):
        await ada.join("/room/9")


async def test_rejoin_declined_ends_the_channel(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada")
    chat = await ada.join("/room/10")
    messages = chat.messages()
    lab.deny_rejoin = True
    await lab.close_all()
    with pytest.raises(JoinDeclinedError) as info:
        await messages.get(TIMEOUT)
    assert (info.value.code, info.value.message) == (403, "no longer welcome")
    assert ada.is_connected or ada.state is ConnectionState.CONNECTING


async def test_no_reconnect_when_disabled(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada", reconnect=False)
    chat = await ada.join("/room/11")
    messages = chat.messages()
    await lab.close_all()
    with pytest.raises(ConnectionLostError):
        await messages.get(TIMEOUT)
    assert ada.state is ConnectionState.CLOSED


async def test_oversized_request_is_an_error_not_a_timeout(lab, make_client) -> None:
    ada = lab_client(make_client, lab, "ada")
    chat = await ada.join("/room/12")
    with pytest.raises(ServerError) as info:
        await chat.request("echo", {"blob": "x" * (2 * 1024 * 1024)}, timeout=TIMEOUT)
    assert info.value.code == 413
    assert (await chat.request("ping", {})).event == "pong"  # the connection survives
