"""The SDK against a scripted server speaking the upstream protocol variants (the TS
server's frames, newline batching, a close code instead of an HTTP status, no CONNECT)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from pondsocket_tools.client import (
    ConnectError,
    EvictedError,
    HandshakeRejectedError,
    JoinDeclinedError,
    ServerError,
)

from .conftest import TIMEOUT


def frame(action: str, event: str, channel: str, request_id: str = "r",
          payload: dict[str, Any] | None = None) -> str:
    # TS key order differs from ours; parsers must not care.
    return json.dumps({"event": event, "action": action, "payload": payload or {},
                       "channelName": channel, "requestId": request_id})


def ts_error(kind: str, message: str, status: int) -> dict[str, Any]:
    return {"code": kind, "message": message, "status": status, "statusCode": status,
            "error": {"message": message, "status": status}}


async def ts_server(ws: ServerConnection) -> None:
    """What the TS server (0.1.219) sends, per the upstream reference, section 1."""
    path = ws.request.path
    if path == "/noconnect":
        await ws.wait_closed()
        return
    if path == "/close4401":
        await ws.close(4401, "bad token")
        return
    if path == "/garbage":
        await ws.send("hello, I am not PondSocket")
        await ws.wait_closed()
        return
    await ws.send(frame("CONNECT", "CONNECTION", "ENDPOINT", "c0"))
    async for raw in ws:
        msg = json.loads(raw)
        action, channel, rid = msg["action"], msg["channelName"], msg["requestId"]
        if action == "JOIN_CHANNEL":
            if channel == "/deny":
                await ws.send(frame("ERROR", "UNAUTHORIZED_JOIN_REQUEST", channel, rid,
                                    ts_error("UNAUTHORIZED_JOIN_REQUEST", "denied", 403)))
            elif channel == "/missing":
                await ws.send(frame("ERROR", "CHANNEL_NOT_FOUND", channel, rid, ts_error(
                    "CHANNEL_NOT_FOUND", f"Channel {channel} does not exist", 404)))
            else:
                # ACK and the first presence frame batched newline-separated (JS style).
                await ws.send(frame("SYSTEM", "ACKNOWLEDGE", channel, rid) + "\n" + frame(
                    "PRESENCE", "JOIN", channel, "p1",
                    {"changed": {"name": "ada"}, "presence": [{"name": "ada"}]}))
        elif action == "BROADCAST":
            event = msg["event"]
            if event == "message":  # broadcasts reuse the trigger's requestId on TS
                await ws.send(frame("BROADCAST", "message", channel, rid, msg["payload"]))
            elif event == "ask":
                await ws.send(frame("BROADCAST", "asked", channel, rid, {"seen": True}))
                await ws.send(frame("SYSTEM", "answer", channel, rid, {"ok": True}))
            elif event == "kickme":
                await ws.send(frame("SYSTEM", "kicked", channel, "k1",
                                    {"userId": "u1", "reason": "banned"}))
                await ws.send(frame("SYSTEM", "kicked_out", channel, "k2",
                                    {"message": "banned", "code": 403}))
            else:
                await ws.send(frame("ERROR", "HANDLER_NOT_FOUND", channel, rid, {
                    "message": "A handler did not respond to the event", "code": 500}))
        # LEAVE_CHANNEL: the TS server does not acknowledge leaves.


@pytest.fixture
async def ts_url() -> AsyncIterator[str]:
    async with serve(ts_server, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def test_ts_connect_join_messages_and_presence(ts_url, make_client) -> None:
    client = make_client(ts_url + "/socket", leave_timeout=0.2)
    await client.connect()
    assert client.connection_id is None  # the TS CONNECT frame carries no id
    chat = await client.join("/room")
    presence = await chat.presence_events().get(TIMEOUT)
    assert presence.changed == {"name": "ada"} and chat.presence == [{"name": "ada"}]
    await chat.send("message", {"text": "hi"})
    message = await chat.messages().get(TIMEOUT)
    assert (message.event, message.payload) == ("message", {"text": "hi"})
    await chat.leave()  # no acknowledgement: ends after leave_timeout
    assert chat.is_closed and chat.closed_reason is None


async def test_ts_request_resolves_on_the_system_reply_not_the_broadcast(ts_url,
                                                                         make_client) -> None:
    client = make_client(ts_url + "/socket")
    chat = await client.join("/room")
    reply = await chat.request("ask", {})
    assert (reply.action, reply.event, reply.payload) == ("SYSTEM", "answer", {"ok": True})
    # The broadcast that carried the same requestId is an ordinary message.
    message = await chat.messages("asked").get(TIMEOUT)
    assert message.payload == {"seen": True}


async def test_ts_error_frames(ts_url, make_client) -> None:
    client = make_client(ts_url + "/socket")
    chat = await client.join("/room")
    with pytest.raises(ServerError) as info:
        await chat.request("unknown", {})
    assert (info.value.code, info.value.kind) == (500, "HANDLER_NOT_FOUND")
    assert info.value.message == "A handler did not respond to the event"


@pytest.mark.parametrize(("channel", "code", "kind"), [
    ("/deny", 403, "UNAUTHORIZED_JOIN_REQUEST"),
    ("/missing", 404, "CHANNEL_NOT_FOUND"),
])
async def test_ts_declines(ts_url, make_client, channel: str, code: int, kind: str) -> None:
    client = make_client(ts_url + "/socket")
    with pytest.raises(JoinDeclinedError) as info:
        await client.join(channel)
    assert (info.value.code, info.value.kind) == (code, kind)


async def test_ts_kicked_out_is_an_eviction(ts_url, make_client) -> None:
    client = make_client(ts_url + "/socket")
    chat = await client.join("/room")
    messages = chat.messages()
    await chat.send("kickme", {})
    kicked = await messages.get(TIMEOUT)  # "kicked" goes to every member: just a message
    assert kicked.event == "kicked" and kicked.payload["reason"] == "banned"
    with pytest.raises(EvictedError) as info:
        await messages.get(TIMEOUT)
    assert info.value.reason == "banned"


async def test_no_connect_frame_is_not_connected(ts_url, make_client) -> None:
    client = make_client(ts_url + "/noconnect", connect_timeout=0.3)
    with pytest.raises(ConnectError, match="no CONNECT frame"):
        await client.connect()


async def test_close_code_4401_is_a_refusal(ts_url, make_client) -> None:
    client = make_client(ts_url + "/close4401", retry_initial_connect=True)
    with pytest.raises(HandshakeRejectedError) as info:
        await client.connect()
    assert info.value.status == 401 and info.value.reason == "bad token"


async def test_not_a_pondsocket_server(ts_url, make_client) -> None:
    client = make_client(ts_url + "/garbage")
    with pytest.raises(ConnectError, match="not a PondSocket endpoint"):
        await client.connect()


async def test_frames_before_connect_are_ignored(make_client) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(frame("SYSTEM", "noise", "GATEWAY"))
        await ws.send(frame("CONNECT", "CONNECTION", "GATEWAY", "c",
                            {"id": "u", "connectionId": "u"}))
        await ws.send(frame("SYSTEM", "welcome", "GATEWAY", "w", {"motd": "hi"}))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        client = make_client(f"ws://127.0.0.1:{port}/")
        welcomed = asyncio.Event()
        got: list[Any] = []
        client.on_message(lambda m: (got.append(m), welcomed.set()))
        await client.connect()
        await asyncio.wait_for(welcomed.wait(), TIMEOUT)
        assert [(m.event, m.payload) for m in got] == [("welcome", {"motd": "hi"})]
        assert client.user_id == "u"
        await client.close()
