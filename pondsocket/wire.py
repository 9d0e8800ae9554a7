"""The wire codec: server frames out, client frames in.

One JSON object per text frame with exactly five camelCase fields, in this order:
``action, event, channelName, requestId, payload``. Outbound frames are encoded once into a
:class:`Frame` whose bytes (and text, decoded at most once) are shared by every recipient.
Inbound frames are validated strictly; a violation raises :class:`WireError` whose text is
``"<path>: <reason>"``, e.g. ``"payload: Expected object"``.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from .enums import ClientActions, ServerActions, SystemEvents
from .ids import new_request_id
from .types import Event

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
_CLIENT_ACTIONS = frozenset(a.value for a in ClientActions)
_FIELDS = (("action", "action"), ("event", "event"), ("channelName", "channel_name"),
           ("requestId", "request_id"))


uuid = new_request_id


class WireError(ValueError):
    """A client frame that breaks the protocol. ``str(err)`` is ``"path: reason"``."""

    def __init__(self, path: str, reason: str, request_id: str | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.request_id = request_id


class Frame:
    """An encoded server frame, shared by all its recipients.

    ``data`` is the UTF-8 JSON; ``text`` is the same as ``str`` (decoded once, on first use,
    for transports that must send text). ``encodings`` holds what an adapter made of it for
    its connections (the direct server's WebSocket frame bytes, plain or compressed), keyed
    by the adapter, so that each is made once per frame, not once per recipient.
    """

    __slots__ = ("_text", "channel", "data", "encodings", "event")

    def __init__(self, data: bytes, channel: str = "", event: str = "") -> None:
        self.data = data
        self.channel = channel
        self.event = event
        self._text: str | None = None
        self.encodings: dict[object, bytes] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.data.decode()
        return self._text

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Frame({self.data!r})"


def encode_frame(action: str, event: str, channel_name: str, request_id: str,
                 payload: Any, offset: int | None = None) -> Frame:
    """Encode one server frame. ``payload`` must be a JSON-serialisable ``dict``.

    ``offset`` (the ``history`` extension) adds a sixth field, ``"offset"``, after
    ``payload``: only for clients that negotiated it."""
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict (a JSON object), got {type(payload).__name__}")
    wire: dict[str, Any] = {
        "action": action,
        "event": event,
        "channelName": channel_name,
        "requestId": request_id,
        "payload": payload,
    }
    if offset is not None:
        wire["offset"] = offset
    try:
        data = _encode(wire)
    except (TypeError, msgspec.EncodeError) as exc:
        raise TypeError(f"payload of event {event!r} is not JSON-serialisable: {exc}") from exc
    return Frame(data, channel_name, event)


def join_refusal(channel_name: str, request_id: str, code: int, message: str) -> Frame:
    """The answer to a refused join: ``SYSTEM``/``UNAUTHORIZED`` ``{"code", "message"}``.
    Every client settles its join on it (some ignore ``ERROR`` frames)."""
    return encode_frame(ServerActions.SYSTEM, SystemEvents.UNAUTHORIZED, channel_name,
                        request_id, {"code": code, "message": message})


def encode_event(event: Event, offset: int | None = None) -> Frame:
    """Encode an :class:`Event` as a server frame (``offset``: see :func:`encode_frame`)."""
    return encode_frame(event.action, event.event, event.channel_name, event.request_id,
                        event.payload if event.payload is not None else {}, offset)


def frame_to_wire(frame: Frame) -> dict[str, Any]:
    """The wire dict of an encoded frame."""
    return _decode(frame.data)


def frame_to_event(frame: Frame) -> Event:
    """An encoded frame back as an :class:`Event` (for tests and non-byte transports)."""
    return wire_dict_to_event(_decode(frame.data))


def wire_dict_to_event(data: dict[str, Any]) -> Event:
    """A decoded server frame as an :class:`Event` (no validation)."""
    return Event(action=data["action"], channel_name=data["channelName"],
                 request_id=data["requestId"], event=data["event"], payload=data["payload"])


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON with the project's codec."""
    return _encode(value)


def event_to_wire(event: Event) -> dict[str, Any]:
    """The wire dict of ``event`` (five fields, wire key order)."""
    return {
        "action": str(event.action),
        "event": event.event,
        "channelName": event.channel_name,
        "requestId": event.request_id,
        "payload": event.payload if event.payload is not None else {},
    }


def event_to_json(event: Event) -> str:
    """``event`` as compact JSON text, exactly as it is sent."""
    return encode_event(event).text


def decode_json(data: str | bytes) -> Any:
    """Parse JSON text; malformed input raises :class:`WireError` at path ``wireMessage``."""
    try:
        return _decode(data)
    except msgspec.DecodeError as exc:
        raise WireError("wireMessage", f"Invalid JSON: {exc}") from None
    except RecursionError:  # a client must not be able to raise out of the codec
        raise WireError("wireMessage", "Invalid JSON: nested too deeply") from None
    except UnicodeEncodeError:  # text with lone surrogates
        raise WireError("wireMessage", "Invalid UTF-8") from None


def wire_to_event(data: Any) -> Event:
    """Validate a decoded client frame and turn it into an :class:`Event`.

    All five fields are required; ``action`` must be a client action, ``payload`` an object.
    """
    if not isinstance(data, dict):
        raise WireError("wireMessage", "Expected object")
    request_id = data.get("requestId")
    rid = request_id if isinstance(request_id, str) else None
    values: dict[str, str] = {}
    for key, attr in _FIELDS:
        if key not in data:
            raise WireError(key, "Missing required field", rid)
        value = data[key]
        if not isinstance(value, str):
            raise WireError(key, "Expected string", rid)
        values[attr] = value
    if values["action"] not in _CLIENT_ACTIONS:
        raise WireError("action", f"Unknown action {values['action']!r}; expected one of "
                        "JOIN_CHANNEL, LEAVE_CHANNEL, BROADCAST", rid)
    if "payload" not in data:
        raise WireError("payload", "Missing required field", rid)
    payload = data["payload"]
    if not isinstance(payload, dict):
        raise WireError("payload", "Expected object", rid)
    if not values["channel_name"]:
        raise WireError("channelName", "Expected a non-empty string", rid)
    return Event(action=values["action"], channel_name=values["channel_name"],
                 request_id=values["request_id"], event=values["event"], payload=payload)


_SNIFF_WINDOW = 4096
_SNIFF = {key: re.compile(rf'"{key}"\s*:\s*"((?:[^"\\]|\\.){{0,256}})"'.encode())
          for key in ("requestId", "channelName")}


def sniff_envelope(data: str | bytes) -> tuple[str, str]:
    """Best effort ``(requestId, channelName)`` of a frame too large to parse: both are
    looked for in its first and last 4 KB ("" when not found)."""
    raw = data if isinstance(data, bytes) else data.encode(errors="surrogatepass")
    window = raw[:_SNIFF_WINDOW] + b"\n" + raw[-_SNIFF_WINDOW:]
    found = []
    for pattern in _SNIFF.values():
        match = pattern.search(window)
        try:
            found.append(_decode(b'"' + match.group(1) + b'"') if match else "")
        except msgspec.DecodeError:
            found.append("")
    return found[0], found[1]


def parse_inbound_text(text: str | bytes) -> Event:
    """Parse and validate one client frame (JSON text)."""
    return wire_to_event(decode_json(text))


def is_legacy_ping(data: Any) -> bool:
    """``{"action": "ping"}``, sent by older JS clients; the server ignores it silently."""
    return isinstance(data, dict) and data.get("action") == "ping" and len(data) == 1


def event_to_pubsub_bytes(event: Event) -> bytes:
    """``event`` with its routing fields, for node-to-node pub/sub."""
    descriptor = event.recipient_descriptor
    return _encode({
        **event_to_wire(event),
        "nodeId": event.node_id,
        "recipients": list(event.recipients),
        "recipientDescriptor": descriptor if isinstance(descriptor, str | list) else str(
            descriptor),
        "fromUserId": event.from_user_id,
        "userId": event.user_id,
    })


def pubsub_bytes_to_event(data: bytes) -> Event | None:
    """The inverse of :func:`event_to_pubsub_bytes`; ``None`` for malformed input."""
    try:
        raw = _decode(data)
        return Event(
            action=raw["action"], channel_name=raw["channelName"], request_id=raw["requestId"],
            event=raw["event"], payload=raw.get("payload") or {}, node_id=raw.get("nodeId", ""),
            recipients=list(raw.get("recipients") or []),
            recipient_descriptor=raw.get("recipientDescriptor", "ALL_USERS"),
            from_user_id=raw.get("fromUserId", "CHANNEL"), user_id=raw.get("userId", ""),
        )
    except (msgspec.DecodeError, RecursionError, KeyError, TypeError):
        return None


__all__ = ["Frame", "WireError", "decode_json", "encode_event", "encode_frame", "encode_json",
           "event_to_json", "event_to_pubsub_bytes", "event_to_wire", "frame_to_event",
           "frame_to_wire", "is_legacy_ping", "join_refusal", "parse_inbound_text",
           "pubsub_bytes_to_event", "sniff_envelope", "uuid", "wire_dict_to_event",
           "wire_to_event"]
