"""The SDK against the demo server over WebSocket: connect, join, send, request, errors,
presence, eviction, declines, refused and unreachable servers."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket_tools.client import (
    ChannelState,
    ConnectError,
    ConnectionState,
    EvictedError,
    HandshakeRejectedError,
    JoinDeclinedError,
    Message,
    PondClient,
    PresenceEvent,
    ServerError,
)

from .conftest import TIMEOUT, connected, free_port


async def next_message(chat, *events: str) -> Message:
    return await chat.messages(*events).get(TIMEOUT)


async def test_connected_only_after_connect_frame(demo_server, make_client) -> None:
    client = make_client(demo_server.url, {"token": "demo", "name": "ada"})
    states: list[ConnectionState] = []
    client.on_state_change(lambda change: states.append(change.state))
    assert client.state is ConnectionState.DISCONNECTED
    await client.connect()
    assert client.is_connected
    assert states == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    # The ids come from the CONNECT frame's payload.
    assert client.connection_id and client.user_id == client.connection_id
    assert client.user_id in demo_server.pond.endpoints[0].connections
    await client.close()
    assert client.state is ConnectionState.CLOSED
    assert states[-1] is ConnectionState.CLOSED


async def test_join_send_and_receive(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    bob = await connected(make_client, demo_server, "bob")
    chat_a = await ada.join("/chat/1")
    chat_b = await bob.join("/chat/1", {"name": "bob"})
    assert chat_a.state is ChannelState.JOINED and chat_a.joins == 1
    messages = chat_b.messages("message")
    request_id = await chat_a.send("message", {"text": "hi"})
    got = await messages.get(TIMEOUT)
    assert (got.channel, got.event, got.action) == ("/chat/1", "message", "BROADCAST")
    assert got.payload["from"] == "ada" and got.payload["text"] == "hi"
    assert request_id and got.request_id != request_id  # broadcasts carry fresh ids


async def test_messages_before_the_iterator_are_kept(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    bob = await connected(make_client, demo_server, "bob")
    chat_a = await ada.join("/chat/2")
    chat_b = await bob.join("/chat/2")
    seen: list[Message] = []
    chat_b.on_message(seen.append, "message")
    for text in ("one", "two", "three"):
        await chat_a.send("message", {"text": text})
    texts = []
    async for message in chat_b.messages("message"):
        texts.append(message.payload["text"])
        if len(texts) == 3:
            break
    assert texts == ["one", "two", "three"]
    assert [m.payload["text"] for m in seen] == texts  # callbacks saw them too


async def test_request_reply(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    chat = await ada.join("/chat/3")
    reply = await chat.request("ping", {"n": 1}, timeout=5)
    assert (reply.action, reply.event) == ("SYSTEM", "pong")
    assert reply.payload["echo"] == {"n": 1}


async def test_request_error_frame_raises_with_code_and_message(demo_server,
                                                                make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    chat = await ada.join("/chat/4")
    with pytest.raises(ServerError) as info:
        await chat.request("no-such-event", {}, timeout=5)
    assert info.value.code == 404 and info.value.kind == "HANDLER_NOT_FOUND"
    assert "no-such-event" in info.value.message
    with pytest.raises(ServerError) as info:
        await chat.request("message", {"text": 42}, timeout=5)
    assert info.value.code == 400 and "text" in info.value.message
    assert info.value.channel == "/chat/4"


async def test_send_error_arrives_as_error_message(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    chat = await ada.join("/chat/5")
    request_id = await chat.send("kick", {"name": "x"})  # members may not kick
    message = await next_message(chat)
    assert message.is_error and message.request_id == request_id
    error = message.error
    assert error is not None and (error.code, error.kind) == (403, "UNAUTHORIZED_BROADCAST")
    assert error.message == "Only moderators may kick"


async def test_declined_join(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    with pytest.raises(JoinDeclinedError) as info:
        await ada.join("/nowhere/1")
    assert info.value.code == 404 and info.value.channel == "/nowhere/1"
    assert "No channel matches" in str(info.value)
    assert ada.channel("/nowhere/1") is None
    assert ada.is_connected  # a declined join leaves the connection alone


async def test_join_twice_returns_the_same_channel(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    first, second = await asyncio.gather(ada.join("/chat/6"), ada.join("/chat/6"))
    assert first is second and first.joins == 1


async def test_presence_list_and_stream(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    bob = await connected(make_client, demo_server, "bob")
    chat_a = await ada.join("/chat/7")
    updates = chat_a.presence_events()
    own = await updates.get(TIMEOUT)
    assert (own.kind, own.changed["name"]) == ("JOIN", "ada")
    callbacks: list[PresenceEvent] = []
    chat_a.on_presence(callbacks.append)
    chat_b = await bob.join("/chat/7")
    joined = await updates.get(TIMEOUT)
    assert (joined.kind, joined.changed["name"]) == ("JOIN", "bob")
    assert [p["name"] for p in chat_a.presence] == ["ada", "bob"]
    await chat_b.send("status", {"status": "away"})
    updated = await updates.get(TIMEOUT)
    assert updated.kind == "UPDATE" and updated.changed["status"] == "away"
    await chat_b.leave()
    assert chat_b.state is ChannelState.CLOSED and chat_b.closed_reason is None
    left = await updates.get(TIMEOUT)
    assert (left.kind, left.changed["name"]) == ("LEAVE", "bob")
    assert [p["name"] for p in chat_a.presence] == ["ada"]
    assert [e.kind for e in callbacks] == ["JOIN", "UPDATE", "LEAVE"]


async def test_events_stream_keeps_arrival_order(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada")
    bob = await connected(make_client, demo_server, "bob")
    chat_a = await ada.join("/chat/8")
    stream = chat_a.events()
    assert isinstance(await stream.get(TIMEOUT), PresenceEvent)  # ada's own JOIN
    chat_b = await bob.join("/chat/8")
    await chat_b.send("message", {"text": "after joining"})
    first, second = await stream.get(TIMEOUT), await stream.get(TIMEOUT)
    assert isinstance(first, PresenceEvent) and first.changed["name"] == "bob"
    assert isinstance(second, Message) and second.payload["text"] == "after joining"


async def test_eviction_ends_the_channel_with_its_reason(demo_server, make_client) -> None:
    mod = await connected(make_client, demo_server, "mod", token="demo-mod")
    bob = await connected(make_client, demo_server, "bob")
    chat_m = await mod.join("/chat/9")
    chat_b = await bob.join("/chat/9")
    closes: list[object] = []
    chat_b.on_close(lambda channel, reason: closes.append(reason))
    messages = chat_b.messages()
    reply = await chat_m.request("kick", {"name": "bob"})
    assert reply.payload == {"name": "bob", "count": 1}
    with pytest.raises(EvictedError) as info:
        async for _ in messages:
            pass
    assert info.value.reason == "Kicked by mod" and info.value.channel == "/chat/9"
    assert chat_b.state is ChannelState.CLOSED and chat_b.closed_reason is info.value
    assert closes == [info.value]
    with pytest.raises(EvictedError):
        await chat_b.send("message", {"text": "still here?"})
    assert bob.is_connected and bob.channel("/chat/9") is None
    # Rejoining after an eviction is an explicit decision, and it works.
    again = await bob.join("/chat/9")
    assert again is not chat_b and again.is_joined


async def test_401_handshake_is_not_retried(demo_server, make_client) -> None:
    client = make_client(demo_server.url, {"token": "wrong"}, retry_initial_connect=True)
    with pytest.raises(HandshakeRejectedError) as info:
        await client.connect()
    assert info.value.status == 401 and info.value.permanent
    assert "Invalid token" in str(info.value)
    assert client.state is ConnectionState.CLOSED and client.error is info.value
    with pytest.raises(HandshakeRejectedError):
        await client.join("/chat/1")


async def test_unknown_endpoint_path_is_refused(demo_server, make_client) -> None:
    client = make_client(demo_server.url.replace("/api/socket", "/nope"), {"token": "demo"})
    with pytest.raises(HandshakeRejectedError) as info:
        await client.connect()
    assert info.value.status == 404


async def test_unreachable_server(make_client) -> None:
    client = make_client(f"ws://127.0.0.1:{free_port()}/api/socket")
    with pytest.raises(ConnectError) as info:
        await client.connect()
    assert not isinstance(info.value, HandshakeRejectedError)
    assert "refused" in str(info.value)


async def test_unreachable_server_gives_up_after_max_attempts(make_client) -> None:
    client = make_client(f"ws://127.0.0.1:{free_port()}/api/socket",
                         retry_initial_connect=True, max_reconnect_attempts=2)
    attempts: list[int] = []
    client.on_state_change(lambda c: attempts.append(c.attempt) if c.retry_in else None)
    with pytest.raises(ConnectError) as info:
        await client.connect()
    assert attempts == [1, 2]
    assert "gave up after 2 reconnect attempt(s)" in str(info.value)


async def test_close_ends_iterators_cleanly_and_fails_waiters(demo_server, make_client
                                                               ) -> None:
    ada = await connected(make_client, demo_server, "ada")
    chat = await ada.join("/chat/10")
    messages = chat.messages("message")

    async def drain() -> list[Message]:
        return [m async for m in messages]

    drained = asyncio.ensure_future(drain())
    await ada.close()
    assert await asyncio.wait_for(drained, TIMEOUT) == []
    assert chat.state is ChannelState.CLOSED and chat.closed_reason is None


async def test_url_params_and_http_scheme(demo_server) -> None:
    client = PondClient(demo_server.http_url + "?name=ada", {"token": "demo"})
    assert client.url.startswith("ws://") and "name=ada" in client.url
    async with client:
        chat = await client.join("/chat/11")
        assert chat.presence == [] or chat.presence[0]["name"] == "ada"
        reply = await chat.request("ping", {})
        assert reply.event == "pong"
