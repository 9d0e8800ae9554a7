"""The SDK against a scripted imitation of the upstream TypeScript server (0.1.219).

What ``ts_server`` imitates, with the sections of the upstream reference
(docs/upstream-reference.md, kept outside this repository) that state each fact; the test
``test_the_imitation_sends_the_documented_ts_frames`` checks its frames against them:

* CONNECT on ``"ENDPOINT"`` with an empty payload (section 1.3, "Socket accepted"; 1.16);
  on ``/welcome`` the connection handler's reply, a ``BROADCAST`` on ``"ENDPOINT"`` right
  after it (1.3, "Connection-handler reply");
* joins: ``SYSTEM``/``ACKNOWLEDGE`` with the join's requestId (1.3, "Join accepted");
  a decline, ``ERROR``/``UNAUTHORIZED_JOIN_REQUEST`` with the rich error payload (1.3, "Join
  declined by handler"; 1.12; example C in 1.15); no pattern,
  ``ERROR``/``CHANNEL_NOT_FOUND`` 404 "GatewayEngine: Channel <name> does not exist" (1.3;
  example C); presence frames with ``presence`` and ``changed`` (1.8);
* broadcasts reuse the triggering message's requestId (1.3, "Handler broadcast*"; 1.16),
  so does a reply, sent as ``SYSTEM`` (1.3, "Handler reply"; 1.7); an event without a handler
  gets ``ERROR``/``HANDLER_NOT_FOUND`` ``{"message": "A handler did not respond to the
  event", "code": 500}`` (1.3; example C);
* an eviction: ``SYSTEM``/``kicked`` ``{"userId", "reason"}`` to every member, target
  included, and ``SYSTEM``/``kicked_out`` ``{"message", "code": 403}`` to the target (1.3,
  "Eviction");
* leaves are not acknowledged (1.3, "Leave accepted"; 1.9).

Not the TS server, and marked so where they are served: the ACK and the first presence
frame batched in one WebSocket message, newline-separated (the TS server sends one message
per frame; 1.1 says JS clients split on newlines, so a server may batch for them); the close
code 4401 (upstream Python's decline, 4000 + the HTTP code, section 1.4 step 4); a server
that never sends CONNECT, and one that is not PondSocket at all.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from pondsocket_tools.client import (
    ConnectError,
    EvictedError,
    HandshakeRejectedError,
    JoinDeclinedError,
    ServerError,
)

from .conftest import TIMEOUT


def fresh() -> str:
    """A server-made requestId (the TS server uses UUIDs)."""
    return str(uuid.uuid4())


def frame(action: str, event: str, channel: str, request_id: str,
          payload: dict[str, Any] | None = None) -> str:
    # TS key order differs from ours; parsers must not care.
    return json.dumps({"event": event, "action": action, "payload": payload or {},
                       "channelName": channel, "requestId": request_id})


def ts_error(kind: str, message: str, status: int) -> dict[str, Any]:
    """The TS error payload (section 1.12, ``PondErrorPayload``)."""
    return {"code": kind, "message": message, "status": status, "statusCode": status,
            "error": {"message": message, "status": status}}


HANDLER_NOT_FOUND = {"message": "A handler did not respond to the event", "code": 500}


async def ts_server(ws: ServerConnection) -> None:
    """The TS server's frames, as listed in the module docstring."""
    path = ws.request.path.partition("?")[0]  # the SDK's pond_ext is not the route
    if path == "/noconnect":  # not upstream: a server that never says CONNECT
        await ws.wait_closed()
        return
    if path == "/close4401":  # upstream Python's decline close code, not the TS server
        await ws.close(4401, "bad token")
        return
    if path == "/garbage":  # not PondSocket at all
        await ws.send("hello, I am not PondSocket")
        await ws.wait_closed()
        return
    await ws.send(frame("CONNECT", "CONNECTION", "ENDPOINT", fresh()))
    if path == "/welcome":
        await ws.send(frame("BROADCAST", "welcome", "ENDPOINT", fresh(), {"motd": "hi"}))
    async for raw in ws:
        msg = json.loads(raw)
        action, channel, rid = msg["action"], msg["channelName"], msg["requestId"]
        if action == "JOIN_CHANNEL":
            if channel == "/deny":
                await ws.send(frame("ERROR", "UNAUTHORIZED_JOIN_REQUEST", channel, rid,
                                    ts_error("UNAUTHORIZED_JOIN_REQUEST", "denied", 403)))
            elif channel.startswith("/room"):  # the one channel pattern
                # Not the TS server: the ACK and the first presence frame batched,
                # newline-separated (JS clients split messages on newlines).
                await ws.send(frame("SYSTEM", "ACKNOWLEDGE", channel, rid) + "\n" + frame(
                    "PRESENCE", "JOIN", channel, fresh(),
                    {"changed": {"name": "ada"}, "presence": [{"name": "ada"}]}))
            else:
                await ws.send(frame("ERROR", "CHANNEL_NOT_FOUND", channel, rid, ts_error(
                    "CHANNEL_NOT_FOUND", f"GatewayEngine: Channel {channel} does not exist",
                    404)))
        elif action == "BROADCAST":
            event = msg["event"]
            if event == "message":  # broadcasts reuse the trigger's requestId on TS
                await ws.send(frame("BROADCAST", "message", channel, rid, msg["payload"]))
            elif event == "ask":
                await ws.send(frame("BROADCAST", "asked", channel, rid, {"seen": True}))
                await ws.send(frame("SYSTEM", "answer", channel, rid, {"ok": True}))
            elif event == "kickme":
                await ws.send(frame("SYSTEM", "kicked", channel, fresh(),
                                    {"userId": "u1", "reason": "banned"}))
                await ws.send(frame("SYSTEM", "kicked_out", channel, fresh(),
                                    {"message": "banned", "code": 403}))
            else:
                await ws.send(frame("ERROR", "HANDLER_NOT_FOUND", channel, rid,
                                    HANDLER_NOT_FOUND))
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
    """After the noise, upstream Python 0.0.7's CONNECT (on ``GATEWAY``, with ``id`` and
    ``connectionId``) and its connection handler's reply (``SYSTEM`` on ``GATEWAY``): section
    1.3, "Socket accepted" and "Connection-handler reply"; example A in 1.15."""
    async def handler(ws: ServerConnection) -> None:
        await ws.send(frame("SYSTEM", "noise", "GATEWAY", fresh()))  # not upstream
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


async def test_ts_connection_reply_is_a_message(ts_url, make_client) -> None:
    client = make_client(ts_url + "/welcome")
    welcomed: asyncio.Queue[Any] = asyncio.Queue()
    client.on_message(welcomed.put_nowait)
    await client.connect()
    message = await asyncio.wait_for(welcomed.get(), TIMEOUT)
    assert (message.event, message.payload) == ("welcome", {"motd": "hi"})


# -- the imitation against the reference -------------------------------------------------


def js_client_accepts(f: dict[str, Any]) -> bool:
    """The JS clients' check of every inbound frame (reference section 1.1,
    ``channelEventSchema``): the five fields with their types, a known action, and for
    PRESENCE a known event with ``presence`` (a list of objects) and ``changed``."""
    if not {"action", "event", "channelName", "requestId", "payload"} <= set(f):
        return False
    if not all(isinstance(f[k], str) for k in ("action", "event", "channelName", "requestId")):
        return False
    if not isinstance(f["payload"], dict):
        return False
    if f["action"] == "PRESENCE":
        presence, changed = f["payload"].get("presence"), f["payload"].get("changed")
        return (f["event"] in ("JOIN", "LEAVE", "UPDATE") and isinstance(presence, list)
                and all(isinstance(p, dict) for p in presence) and isinstance(changed, dict))
    return f["action"] in ("BROADCAST", "CONNECT", "ERROR", "SYSTEM")


def ts_error_payload(kind: str, message: str, status: int) -> dict[str, Any]:
    # Section 1.15, example C, as the TS server sends it (and section 1.12's field list).
    return {"code": kind, "message": message, "status": status, "statusCode": status,
            "error": {"message": message, "status": status}}


class RawSession:
    """A plain WebSocket client of the imitation: every frame it reads, one per line."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.pending: list[dict[str, Any]] = []
        self.frames: list[dict[str, Any]] = []

    async def next(self) -> dict[str, Any]:
        while not self.pending:
            raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT)
            self.pending = [json.loads(line) for line in raw.split("\n") if line.strip()]
        frame = self.pending.pop(0)
        self.frames.append(frame)
        return frame

    async def send(self, action: str, channel: str, event: str, request_id: str,
                   payload: dict[str, Any] | None = None) -> None:
        await self.ws.send(json.dumps({"action": action, "event": event, "channelName": channel,
                                       "requestId": request_id, "payload": payload or {}}))


def shape(f: dict[str, Any]) -> tuple[str, str, str]:
    return f["action"], f["event"], f["channelName"]


async def test_the_imitation_sends_the_documented_ts_frames(ts_url) -> None:
    """Each situation of the imitation, driven by a raw client, against the TS column of
    the reference's section 1.3 table and its example C (section 1.15)."""
    async with connect(ts_url + "/welcome") as ws:
        s = RawSession(ws)
        connected = await s.next()  # 1.3 "Socket accepted": CONNECT, ENDPOINT, {}
        assert (shape(connected), connected["payload"]) == (
            ("CONNECT", "CONNECTION", "ENDPOINT"), {})
        reply = await s.next()  # 1.3 "Connection-handler reply": BROADCAST on ENDPOINT
        assert shape(reply) == ("BROADCAST", "welcome", "ENDPOINT")

        await s.send("JOIN_CHANNEL", "/room", "JOIN_CHANNEL", "join-a")
        ack = await s.next()  # 1.3 "Join accepted": the join's requestId, {}
        assert (shape(ack), ack["requestId"], ack["payload"]) == (
            ("SYSTEM", "ACKNOWLEDGE", "/room"), "join-a", {})
        presence = await s.next()  # 1.8: the whole list and the changed object
        assert shape(presence) == ("PRESENCE", "JOIN", "/room")
        assert presence["payload"] == {"presence": [{"name": "ada"}], "changed": {"name": "ada"}}

        await s.send("JOIN_CHANNEL", "/deny", "JOIN_CHANNEL", "join-deny")
        declined = await s.next()  # 1.3 "Join declined by handler"; example C
        assert (shape(declined), declined["requestId"], declined["payload"]) == (
            ("ERROR", "UNAUTHORIZED_JOIN_REQUEST", "/deny"), "join-deny",
            ts_error_payload("UNAUTHORIZED_JOIN_REQUEST", "denied", 403))

        await s.send("BROADCAST", "/room", "message", "msg-1", {"text": "hi"})
        broadcast = await s.next()  # 1.3 "Handler broadcast*": the trigger's requestId
        assert (shape(broadcast), broadcast["requestId"], broadcast["payload"]) == (
            ("BROADCAST", "message", "/room"), "msg-1", {"text": "hi"})

        await s.send("BROADCAST", "/room", "ask", "ask-1")
        asked, answer = await s.next(), await s.next()  # 1.7: both carry the requestId
        assert (shape(asked), asked["requestId"]) == (("BROADCAST", "asked", "/room"), "ask-1")
        assert (shape(answer), answer["requestId"]) == (("SYSTEM", "answer", "/room"), "ask-1")

        await s.send("BROADCAST", "/room", "unknown_evt", "unk-1")
        unknown = await s.next()  # 1.3 "BROADCAST whose event matches no handler"; example C
        assert (shape(unknown), unknown["requestId"], unknown["payload"]) == (
            ("ERROR", "HANDLER_NOT_FOUND", "/room"), "unk-1",
            {"message": "A handler did not respond to the event", "code": 500})

        await s.send("BROADCAST", "/room", "kickme", "kick-1")
        kicked, kicked_out = await s.next(), await s.next()  # 1.3 "Eviction"
        assert (shape(kicked), set(kicked["payload"])) == (
            ("SYSTEM", "kicked", "/room"), {"userId", "reason"})
        assert (shape(kicked_out), kicked_out["payload"]) == (
            ("SYSTEM", "kicked_out", "/room"), {"message": "banned", "code": 403})

        # 1.3 "Leave accepted": no acknowledgement, so the next frame is the answer to the
        # join that follows (a join no pattern matches; example C).
        await s.send("LEAVE_CHANNEL", "/room", "LEAVE_CHANNEL", "leave-1")
        await s.send("JOIN_CHANNEL", "/other/2", "JOIN_CHANNEL", "join-nf")
        missing = await s.next()
        assert (shape(missing), missing["requestId"], missing["payload"]) == (
            ("ERROR", "CHANNEL_NOT_FOUND", "/other/2"), "join-nf",
            ts_error_payload("CHANNEL_NOT_FOUND",
                             "GatewayEngine: Channel /other/2 does not exist", 404))

    # Server-made requestIds are fresh UUIDs; and a JS client accepts every frame (1.1).
    for f in (connected, reply, presence, kicked, kicked_out):
        assert uuid.UUID(f["requestId"]), f
    rejected = [f for f in s.frames if not js_client_accepts(f)]
    assert not rejected, rejected
