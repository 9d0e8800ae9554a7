"""Inbound frame validation, size limit, legacy ping, and the transports themselves."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pondsocket import (
    Event,
    EventContext,
    IncomingConnection,
    InMemoryTransport,
    Options,
    PushableTransport,
    SSEServerTransport,
    Transport,
    TransportType,
)
from tests.core.helpers import accept_join, connect, event_msg, frames, join, join_msg, only


def dumps(value) -> bytes:
    """Compact UTF-8 JSON, as a client would send it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def lobby(endpoint):
    lobby = endpoint.create_channel("/chat/:room", accept_join)

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", ctx.payload)

    lobby.on_message("ping", ping)
    return lobby


@pytest.fixture
async def alice(endpoint, lobby):
    transport = await connect(endpoint, "alice")
    await join(transport, "/chat/1")
    return transport


VALID = {"action": "BROADCAST", "event": "ping", "channelName": "/chat/1",
         "requestId": "r1", "payload": {}}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in VALID.items() if k != key}


def invalid(frame: dict[str, Any]) -> tuple[str, str]:
    """Check the INVALID_MESSAGE shape; return (message, requestId)."""
    assert (frame["action"], frame["event"], frame["channelName"]) == (
        "ERROR", "INVALID_MESSAGE", "GATEWAY")
    payload = frame["payload"]
    assert payload["code"] == 400
    assert isinstance(payload["message"], str) and ": " in payload["message"]
    assert payload["error"] == payload["message"]
    return payload["message"], frame["requestId"]


@pytest.mark.parametrize(("raw", "path"), [
    ("not json", "wireMessage"),
    ("", "wireMessage"),
    ("{", "wireMessage"),
    ("[]", "wireMessage"),
    ("42", "wireMessage"),
    ('"text"', "wireMessage"),
    ("null", "wireMessage"),
    (b"\xff\xfe{}", "wireMessage"),
])
async def test_unparseable_frames_are_invalid_message(alice, raw, path):
    await alice.push_inbound(raw)
    message, request_id = invalid(only(await frames(alice)))
    assert message.startswith(f"{path}: ")
    assert request_id  # a fresh id: the frame had none


@pytest.mark.parametrize(("frame", "expected"), [
    (without("action"), "action: Missing required field"),
    (without("event"), "event: Missing required field"),
    (without("channelName"), "channelName: Missing required field"),
    (without("payload"), "payload: Missing required field"),
    ({**VALID, "event": 5}, "event: Expected string"),
    ({**VALID, "channelName": None}, "channelName: Expected string"),
    ({**VALID, "action": ["BROADCAST"]}, "action: Expected string"),
    ({**VALID, "payload": []}, "payload: Expected object"),
    ({**VALID, "payload": None}, "payload: Expected object"),
    ({**VALID, "payload": "x"}, "payload: Expected object"),
    ({**VALID, "channelName": ""}, "channelName: Expected a non-empty string"),
])
async def test_schema_violations_echo_the_request_id(alice, frame, expected):
    await alice.push_inbound(frame)
    message, request_id = invalid(only(await frames(alice)))
    assert message == expected
    assert request_id == "r1"


async def test_unknown_action_is_invalid(alice):
    await alice.push_inbound({**VALID, "action": "SUBSCRIBE"})
    message, request_id = invalid(only(await frames(alice)))
    assert message.startswith("action: ")
    assert request_id == "r1"


async def test_missing_request_id_is_invalid_with_a_fresh_id(alice):
    await alice.push_inbound(without("requestId"))
    message, request_id = invalid(only(await frames(alice)))
    assert message == "requestId: Missing required field"
    assert request_id


async def test_extra_fields_are_ignored(alice):
    await alice.push_inbound({**VALID, "extra": 1})
    assert only(await frames(alice))["event"] == "pong"


async def test_utf8_bytes_frames_are_accepted(alice):
    await alice.push_inbound(dumps({**VALID, "payload": {"text": "héllo ✓"}}))
    assert only(await frames(alice))["payload"] == {"text": "héllo ✓"}


async def test_event_objects_can_be_pushed(alice):
    await alice.push_inbound(Event("BROADCAST", "/chat/1", "ev", "ping", {"a": 1}))
    frame = only(await frames(alice))
    assert (frame["requestId"], frame["payload"]) == ("ev", {"a": 1})


async def test_legacy_ping_is_ignored_silently(alice):
    await alice.push_inbound('{"action":"ping"}')
    await alice.push_inbound({"action": "ping"})
    assert await frames(alice) == []
    # Anything more than the bare legacy ping is validated as usual.
    await alice.push_inbound({"action": "ping", "event": "x"})
    invalid(only(await frames(alice)))


async def test_invalid_frames_never_close_the_connection(alice):
    for raw in ("x", "[]", '{"action": 1}', b"\x80"):
        await alice.push_inbound(raw)
    assert len(await frames(alice)) == 4
    await alice.push_inbound(VALID)
    assert only(await frames(alice))["event"] == "pong"
    assert alice.is_active()


def test_oversize_frame_without_envelope_has_no_sniffed_envelope():
    """A frame with no recognisable envelope is answered on GATEWAY with a fresh requestId."""
    from pondsocket.wire import sniff_envelope

    assert sniff_envelope(b"x" * 10_000) == ("", "")
    assert sniff_envelope('{"payload":"' + "y" * 9000 + '"}') == ("", "")


async def test_oversize_frame_is_413_and_the_connection_stays_usable(make_pond):
    pond = make_pond(Options(max_message_size=200))
    endpoint = pond.create_endpoint("/socket", _accept)
    lobby = endpoint.create_channel("/chat/:room", accept_join)

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", {})

    lobby.on_message("ping", ping)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    big = dumps({**VALID, "payload": {"blob": "x" * 300}})
    await alice.push_inbound(big)
    frame = only(await frames(alice))
    # Answered on the sender's channel with its requestId, found without parsing the frame.
    assert (frame["action"], frame["event"], frame["channelName"], frame["requestId"]) == (
        "ERROR", "INVALID_MESSAGE", VALID["channelName"], VALID["requestId"])
    assert frame["payload"]["code"] == 413
    assert "200" in frame["payload"]["message"]
    # The size is counted in UTF-8 bytes, also for text frames.
    wide = dumps({**VALID, "payload": {"t": "é" * 70}}).decode()
    assert len(wide) <= 200 < len(wide.encode())
    await alice.push_inbound(wide)
    assert only(await frames(alice))["payload"]["code"] == 413
    # Exactly at the limit is fine.
    exact = dumps({**VALID, "payload": {"p": ""}})
    exact = dumps({**VALID, "payload": {"p": "x" * (200 - len(exact))}})
    assert len(exact) == 200
    await alice.push_inbound(exact)
    assert only(await frames(alice))["event"] == "pong"


async def _accept(ctx) -> None:
    ctx.accept()


async def test_frames_after_close_are_not_queued(endpoint):
    transport = await connect(endpoint, "u")
    await transport.close()
    assert transport.send_frame(_frame()) is False
    await transport.push_inbound(VALID)  # ignored: nothing is answered on a closed transport
    assert await frames(transport) == []


def _frame():
    from pondsocket import encode_frame

    return encode_frame("BROADCAST", "e", "/c", "r", {})


async def test_close_flushes_queued_frames_first():
    transport = InMemoryTransport("u")
    for _ in range(3):
        transport.send_frame(_frame())
    await transport.close(1000, "bye")
    assert transport.outbox_size() == 3
    assert (transport.close_code, transport.close_reason) == (1000, "bye")
    assert transport.frames_sent == 3


async def test_close_callbacks_run_once():
    transport = InMemoryTransport("u")
    calls = []

    async def on_close(t) -> None:
        calls.append(t.id)

    transport.on_close(on_close)
    transport.disconnect()
    transport.disconnect()
    await transport.wait_closed()
    await transport.close()
    assert calls == ["u"]
    assert transport.close_code == 1001


async def test_wait_closed_returns_after_the_close_callbacks_finished():
    transport = InMemoryTransport("u")
    finished = []

    async def slow_cleanup(t) -> None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        finished.append(True)

    transport.on_close(slow_cleanup)
    transport.disconnect()
    await transport.wait_closed()
    assert finished == [True]


async def test_in_memory_transport_api():
    transport = InMemoryTransport("u", assigns={"a": 1})
    assert isinstance(transport, Transport) and isinstance(transport, PushableTransport)
    assert transport.get_id() == "u" and transport.user_id == "u"
    assert transport.transport_type() is TransportType.MEMORY
    transport.set_assign("b", 2)
    assert transport.get_assign("b") == 2 and transport.clone_assigns() == {"a": 1, "b": 2}
    await transport.send_event(Event("BROADCAST", "/c", "r", "e", {"x": 1}))
    event = await transport.receive_sent()
    assert (event.action, event.channel_name, event.request_id, event.event, event.payload) == (
        "BROADCAST", "/c", "r", "e", {"x": 1})
    with pytest.raises(TimeoutError):
        await transport.receive_json(wait=0.01)
    transport.send_frame(_frame())
    await transport.drain()
    assert [e.event for e in await transport.drain_outbox()] == ["e"]


async def test_sse_transport_streams_frames_and_ends(pond, endpoint, lobby):
    ctx = await endpoint.request_connection(IncomingConnection("s", "1.2.3.4"))
    sse = SSEServerTransport(id="s", assigns=ctx.assigns)
    assert sse.transport_type() is TransportType.SSE
    await endpoint.register_transport(sse, ctx)
    connect_event = await sse.next_event()
    assert (connect_event.action, connect_event.payload) == (
        "CONNECT", {"id": "s", "connectionId": "s"})
    await sse.push_message(dumps(join_msg("/chat/1", request_id="j")))
    ack = await sse.next_frame()
    assert json.loads(ack.data)["requestId"] == "j"
    assert ack.text == ack.data.decode()
    await sse.push_message(dumps(event_msg("/chat/1", "ping", {"n": 1})))
    assert (await sse.next_event()).payload == {"n": 1}
    await sse.close()
    await sse.wait_until_closed()
    assert await sse.next_frame() is None
    assert await endpoint.connection_count() == 0


class ProtocolOnlyTransport:
    """A third-party transport that implements only the Transport protocol."""

    def __init__(self, id: str) -> None:
        self.id = id
        self.sent: list[Event] = []
        self.handler = None
        self.close_callbacks = []
        self.got = asyncio.Queue()

    def get_id(self) -> str:
        return self.id

    async def send_event(self, event: Event) -> None:
        self.sent.append(event)
        self.got.put_nowait(event)

    def get_assign(self, key):
        return None

    def set_assign(self, key, value) -> None:
        pass

    def clone_assigns(self):
        return {}

    def is_active(self) -> bool:
        return True

    async def close(self) -> None:
        for callback in self.close_callbacks:
            await callback(self)

    def on_close(self, callback) -> None:
        self.close_callbacks.append(callback)

    def on_message(self, handler) -> None:
        self.handler = handler

    async def handle_messages(self) -> None:
        pass

    def transport_type(self):
        return TransportType.WEBSOCKET


async def test_a_protocol_only_transport_is_served(endpoint, lobby):
    transport = ProtocolOnlyTransport("p")
    assert isinstance(transport, Transport)
    await endpoint.register_transport(transport)
    assert (await transport.got.get()).action == "CONNECT"
    await transport.handler(Event("JOIN_CHANNEL", "/chat/1", "j", "JOIN_CHANNEL", {}),
                            transport)
    ack = await transport.got.get()
    assert (ack.event, ack.request_id) == ("ACKNOWLEDGE", "j")
    await transport.close()
    assert await endpoint.connection_count() == 0
