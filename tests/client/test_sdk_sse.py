"""The same client API over Server-Sent Events (GET stream + POST frames)."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket_tools.client import (
    ChannelState,
    ConnectionState,
    HandshakeRejectedError,
    JoinDeclinedError,
    ServerError,
)

from .apps import build_lab
from .conftest import TIMEOUT, connected


async def test_sse_chat_with_a_websocket_client(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada", transport="sse")
    assert ada.url.startswith("http://") and ada.connection_id
    # The SSE credential is a secret token, not the user id.
    assert ada.user_id != ada.connection_id
    bob = await connected(make_client, demo_server, "bob")
    chat_a = await ada.join("/chat/sse")
    chat_b = await bob.join("/chat/sse")
    joined = await chat_a.presence_events().get(TIMEOUT)
    assert joined.changed["name"] in ("ada", "bob")
    messages_a, messages_b = chat_a.messages("message"), chat_b.messages("message")
    await chat_b.send("message", {"text": "to sse"})
    assert (await messages_a.get(TIMEOUT)).payload["text"] == "to sse"
    assert (await messages_b.get(TIMEOUT)).payload["text"] == "to sse"  # its own broadcast
    await chat_a.send("message", {"text": "from sse"})
    got = await messages_b.get(TIMEOUT)
    assert (got.payload["from"], got.payload["text"]) == ("ada", "from sse")


async def test_sse_request_reply_and_errors(demo_server, make_client) -> None:
    ada = await connected(make_client, demo_server, "ada", transport="sse")
    chat = await ada.join("/chat/sse2")
    reply = await chat.request("ping", {"via": "sse"})
    assert reply.payload["echo"] == {"via": "sse"}
    with pytest.raises(ServerError) as info:
        await chat.request("nope", {})
    assert (info.value.code, info.value.kind) == (404, "HANDLER_NOT_FOUND")
    with pytest.raises(JoinDeclinedError):
        await ada.join("/nowhere")


async def test_sse_refused_with_401(demo_server, make_client) -> None:
    client = make_client(demo_server.http_url, {"token": "bad"}, transport="sse",
                         retry_initial_connect=True)
    with pytest.raises(HandshakeRejectedError) as info:
        await client.connect()
    assert info.value.status == 401 and "Invalid token" in info.value.reason


async def test_sse_oversized_post_is_an_error_not_a_timeout(start_app, make_client) -> None:
    lab = build_lab()
    server = await start_app(lab.app)
    client = make_client(server.http_url, {"token": "demo"}, transport="sse")
    chat = await client.join("/room/1")
    with pytest.raises(ServerError) as info:
        await chat.request("echo", {"blob": "x" * (2 * 1024 * 1024)})
    assert info.value.code == 413
    assert (await chat.request("ping", {})).event == "pong"  # still usable


async def test_sse_reconnects_and_rejoins(start_app, make_client) -> None:
    lab = build_lab()
    server = await start_app(lab.app)
    client = make_client(server.http_url, {"token": "demo"}, transport="sse")
    chat = await client.join("/room/2")
    rejoined = asyncio.Event()
    chat.on_join(lambda channel: rejoined.set() if channel.joins == 2 else None)
    await lab.close_all()  # ends the event stream
    await asyncio.wait_for(rejoined.wait(), TIMEOUT)
    assert chat.state is ChannelState.JOINED and client.state is ConnectionState.CONNECTED
    assert (await chat.request("ping", {"again": 1})).payload == {"echo": {"again": 1}}
