"""Property tests of the wire codec: client frames in, server frames out, junk rejected."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pondsocket import (
    Event,
    InMemoryTransport,
    WireError,
    encode_frame,
    event_to_json,
    event_to_pubsub_bytes,
    event_to_wire,
    parse_inbound_text,
    pubsub_bytes_to_event,
    wire_to_event,
)

PROPERTY = settings(max_examples=200, deadline=None)
FIELDS = ["action", "event", "channelName", "requestId", "payload"]

JSON_SCALAR = (st.none() | st.booleans() | st.integers(-(2**53), 2**53)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JSON_VALUE = st.recursive(
    JSON_SCALAR,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=15)
JSON_OBJECT = st.dictionaries(st.text(max_size=8), JSON_VALUE, max_size=5)


@st.composite
def client_frames(draw) -> dict:
    frame = {
        "action": draw(st.sampled_from(["JOIN_CHANNEL", "LEAVE_CHANNEL", "BROADCAST"])),
        "event": draw(st.text(max_size=20)),
        "channelName": draw(st.text(min_size=1, max_size=20)),
        "requestId": draw(st.text(max_size=36)),
        "payload": draw(JSON_OBJECT),
    }
    keys = draw(st.permutations(list(frame)))  # clients send the fields in any order
    return {key: frame[key] for key in keys}


def dumps(value, *, ascii_only: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"))


@PROPERTY
@given(client_frames(), st.booleans(), st.booleans())
def test_valid_client_frames_round_trip(frame, ascii_only, as_bytes):
    text = dumps(frame, ascii_only=ascii_only)
    event = parse_inbound_text(text.encode() if as_bytes else text)
    assert (event.action, event.event, event.channel_name, event.request_id, event.payload) == (
        frame["action"], frame["event"], frame["channelName"], frame["requestId"],
        frame["payload"])
    assert event_to_wire(event) == {key: frame[key] for key in FIELDS}


@PROPERTY
@given(st.text(max_size=20), st.text(max_size=20), st.text(max_size=20),
       st.text(max_size=36), JSON_OBJECT)
def test_encoded_frames_decode_to_the_same_five_fields_in_order(action, event, channel,
                                                                 request_id, payload):
    frame = encode_frame(action, event, channel, request_id, payload)
    decoded = json.loads(frame.data)
    assert list(decoded) == FIELDS
    assert decoded == {"action": action, "event": event, "channelName": channel,
                       "requestId": request_id, "payload": payload}
    assert frame.text == frame.data.decode("utf-8")
    assert len(frame) == len(frame.data)
    # The same event through the Event helpers gives the same bytes.
    as_event = Event(action, channel, request_id, event, payload)
    assert event_to_json(as_event) == frame.text


def _accepts_or_wire_error(data) -> None:
    try:
        event = parse_inbound_text(data)
    except WireError as err:
        assert str(err) == f"{err.path}: {err.reason}"
        return
    assert isinstance(event, Event) and isinstance(event.payload, dict)


@PROPERTY
@given(st.text() | st.binary())
def test_junk_never_raises_anything_but_wire_error(data):
    _accepts_or_wire_error(data)


@PROPERTY
@given(JSON_VALUE | st.dictionaries(st.sampled_from([*FIELDS, "x"]), JSON_VALUE))
def test_json_shaped_junk_never_raises_anything_but_wire_error(value):
    _accepts_or_wire_error(dumps(value))


@pytest.mark.parametrize("data", [
    "[" * 5000 + "]" * 5000,  # deeper than the decoder goes
    '{"a":' * 3000 + "1" + "}" * 3000,
    "\ud800",  # text that is not valid Unicode
    '{"payload": 1e999}',
    "1" * 10000,
])
def test_pathological_input_is_a_wire_error(data):
    with pytest.raises(WireError):
        parse_inbound_text(data)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_a_transport_answers_every_bad_frame_with_exactly_one_error(data):
    async def scenario() -> tuple[list, list[dict]]:
        transport = InMemoryTransport("u")
        handled = []

        async def handler(event, _transport) -> None:
            handled.append(event)

        transport.on_message(handler)
        await transport.feed(data)
        await transport.drain()
        out = [await transport.receive_json(wait=None) for _ in range(transport.outbox_size())]
        await transport.close()
        return handled, out

    handled, out = asyncio.run(scenario())
    if handled:
        assert out == []
    elif out:
        [frame] = out
        assert (frame["action"], frame["event"], frame["payload"]["code"]) == (
            "ERROR", "INVALID_MESSAGE", 400)
    else:  # the only frame answered with silence is the legacy ping
        assert json.loads(data) == {"action": "ping"}


def test_wire_to_event_requires_an_object():
    for value in ([], "x", 1, None):
        with pytest.raises(WireError) as err:
            wire_to_event(value)
        assert err.value.path == "wireMessage"


@PROPERTY
@given(client_frames(), st.lists(st.text(max_size=8), max_size=3), st.text(max_size=8))
def test_pubsub_bytes_round_trip(frame, recipients, node):
    event = Event(frame["action"], frame["channelName"], frame["requestId"], frame["event"],
                  frame["payload"], node_id=node, recipients=recipients,
                  recipient_descriptor="ALL_EXCEPT_SENDER", from_user_id="u1", user_id="u2")
    back = pubsub_bytes_to_event(event_to_pubsub_bytes(event))
    assert back == event


def test_malformed_pubsub_bytes_are_none():
    assert pubsub_bytes_to_event(b"not json") is None
    assert pubsub_bytes_to_event(b'{"action":"x"}') is None
