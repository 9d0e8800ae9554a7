"""The PondSocket wire protocol as a client sees it: server frames in, client frames out.

Every frame is one JSON object with five fields: ``action``, ``event``, ``channelName``,
``requestId`` and ``payload`` (an object). Parsing is tolerant where servers differ (TS-style
error payloads, newline-batched frames) and strict where it matters (an unknown shape raises
:class:`~pondsocket_tools.client.errors.ProtocolError`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .errors import JoinDeclinedError, ProtocolError, ServerError

# Client actions.
JOIN_CHANNEL = "JOIN_CHANNEL"
LEAVE_CHANNEL = "LEAVE_CHANNEL"
BROADCAST = "BROADCAST"

# Server actions.
CONNECT = "CONNECT"
SYSTEM = "SYSTEM"
PRESENCE = "PRESENCE"
ERROR = "ERROR"
SERVER_ACTIONS = frozenset({CONNECT, SYSTEM, PRESENCE, ERROR, BROADCAST})

# Protocol extensions (docs/protocol.md#extensions): asked for with this query parameter,
# granted in the CONNECT frame's "extensions" list by servers that implement them.
EXTENSIONS_PARAM = "pond_ext"
PRESENCE_DIFF_EXTENSION = "presence-diff"
HISTORY_EXTENSION = "history"
#: The extensions this SDK implements, asked for by default.
IMPLEMENTED_EXTENSIONS: tuple[str, ...] = (HISTORY_EXTENSION, PRESENCE_DIFF_EXTENSION)
# The join payload key that asks to recover from a stream position (the history extension).
RECOVER_KEY = "pond_recover"

# System events the client acts on.
CONNECTION = "CONNECTION"
ACKNOWLEDGE = "ACKNOWLEDGE"
EXIT_ACKNOWLEDGE = "EXIT_ACKNOWLEDGE"
UNAUTHORIZED = "UNAUTHORIZED"
NOT_FOUND = "NOT_FOUND"
EVICTED = "EVICTED"
KICKED_OUT = "kicked_out"  # TS server: eviction
DESTROYED = "destroyed"  # TS server: ERROR frame when a channel is destroyed

#: Pseudo channel names of frames that belong to no channel (Python / TS servers).
GATEWAY_CHANNELS = frozenset({"GATEWAY", "ENDPOINT"})


_encode = msgspec.json.encode
_decode = msgspec.json.decode


def new_request_id() -> str:
    """A fresh request id (a UUID4 string)."""
    return str(uuid.uuid4())


def encode_client_frame(action: str, event: str, channel: str, request_id: str,
                        payload: dict[str, Any] | None = None) -> str:
    """One client frame as compact JSON text."""
    payload = {} if payload is None else payload
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict (a JSON object), got {type(payload).__name__}")
    try:
        data = _encode({"action": action, "event": event, "channelName": channel,
                        "requestId": request_id, "payload": payload})
    except TypeError as exc:
        raise TypeError(f"payload of {event!r} is not JSON-serialisable: {exc}") from None
    return data.decode()


@dataclass(frozen=True, slots=True)
class ServerFrame:
    """One frame from the server, as received."""

    action: str
    event: str
    channel: str
    request_id: str
    payload: dict[str, Any]
    #: The broadcast's offset in its channel's stream (the history extension), else None.
    offset: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """The frame as the wire dict (five camelCase fields)."""
        return {"action": self.action, "event": self.event, "channelName": self.channel,
                "requestId": self.request_id, "payload": self.payload}


def _frame(data: Any) -> ServerFrame:
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    action = data.get("action")
    if action not in SERVER_ACTIONS:
        raise ProtocolError(f"unknown action {action!r}")
    payload = data.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ProtocolError(f"payload must be an object, got {type(payload).__name__}")
    offset = data.get("offset")
    if not isinstance(offset, int) or isinstance(offset, bool):
        offset = None
    return ServerFrame(action, str(data.get("event") or ""), str(data.get("channelName") or ""),
                       str(data.get("requestId") or ""), payload, offset)


def parse_server_frames(text: str | bytes) -> list[ServerFrame]:
    """The frames in one WebSocket message or SSE event.

    One JSON object normally; several newline-separated objects are accepted too (servers may
    batch frames for JS clients).
    """
    try:
        return [_frame(_decode(text))]
    except msgspec.DecodeError:
        pass
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 2:
        raise ProtocolError(f"not JSON: {text[:80]!r}")
    frames = []
    for line in lines:
        try:
            frames.append(_frame(_decode(line)))
        except msgspec.DecodeError:
            raise ProtocolError(f"not JSON: {line[:80]!r}") from None
    return frames


def error_details(payload: dict[str, Any], event: str) -> tuple[int | None, str, str]:
    """``(code, kind, message)`` of an error payload, whichever server sent it.

    Our server and upstream Python: ``{"code": <int>, "message"}`` (or ``{"error": <str>}``,
    or ``{"channel"}`` for NOT_FOUND). TS server: ``{"code": "<TYPE>", "message", "status"}``.
    """
    raw_code = payload.get("code")
    code: int | None = None
    kind = event
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str) and raw_code:
        kind = raw_code
    for key in ("status", "statusCode"):
        value = payload.get(key)
        if code is None and isinstance(value, int) and not isinstance(value, bool):
            code = value
    message = payload.get("message")
    if not isinstance(message, str) or not message:
        error = payload.get("error")
        if isinstance(error, str):
            message = error
        elif isinstance(error, dict) and isinstance(error.get("message"), str):
            message = error["message"]
        elif event == NOT_FOUND and isinstance(payload.get("channel"), str):
            message = f"channel {payload['channel']} not found"
            code = code or 404
        else:
            message = event or "error"
    return code, kind, message


def server_error(frame: ServerFrame, cls: type[ServerError] = ServerError) -> ServerError:
    """The exception describing an error frame."""
    code, kind, message = error_details(frame.payload, frame.event)
    return cls(message, code=code, kind=kind, channel=frame.channel,
               request_id=frame.request_id, payload=frame.payload)


def join_declined(frame: ServerFrame, channel: str) -> JoinDeclinedError:
    """The exception describing a declined join."""
    code, kind, message = error_details(frame.payload, frame.event)
    return JoinDeclinedError(message, code=code, kind=kind, channel=channel,
                             request_id=frame.request_id, payload=frame.payload)


@dataclass(frozen=True, slots=True)
class Message:
    """A message on a channel: a broadcast, a system frame, or an error frame.

    ``action`` is ``BROADCAST`` (sent by the channel to its members), ``SYSTEM`` (to this
    client only, e.g. a reply) or ``ERROR`` (the server refused something this client sent;
    see :attr:`error`).
    """

    channel: str
    event: str
    payload: dict[str, Any]
    action: str = BROADCAST
    request_id: str = ""
    received_at: float = field(default_factory=time.time)
    #: The broadcast's offset in its channel's stream, when the channel has history.
    offset: int | None = None

    @property
    def is_error(self) -> bool:
        return self.action == ERROR

    @property
    def error(self) -> ServerError | None:
        """The error an ``ERROR`` message describes (``None`` for other messages)."""
        if not self.is_error:
            return None
        return server_error(ServerFrame(self.action, self.event, self.channel, self.request_id,
                                        self.payload))

    def to_wire(self) -> dict[str, Any]:
        return {"action": self.action, "event": self.event, "channelName": self.channel,
                "requestId": self.request_id, "payload": self.payload}

    @classmethod
    def from_frame(cls, frame: ServerFrame) -> Message:
        return cls(frame.channel, frame.event, frame.payload, frame.action, frame.request_id,
                   offset=frame.offset)


@dataclass(frozen=True, slots=True)
class RecoveryFailure:
    """A rejoin that could not recover the messages missed while disconnected (the history
    extension): ``reason`` is the server's (``"epoch changed"``, ``"offset too old"``, ...);
    ``epoch`` and ``offset`` are where the channel's stream stands now."""

    channel: str
    reason: str
    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    """A change of a channel's presence.

    ``kind`` is ``JOIN``, ``UPDATE`` or ``LEAVE``; ``changed`` the presence entry that
    changed; ``presence`` the whole list after the change.
    """

    channel: str
    kind: str
    changed: dict[str, Any]
    presence: list[dict[str, Any]]
    request_id: str = ""
    received_at: float = field(default_factory=time.time)

    def to_wire(self) -> dict[str, Any]:
        return {"action": PRESENCE, "event": self.kind, "channelName": self.channel,
                "requestId": self.request_id,
                "payload": {"presence": self.presence, "changed": self.changed}}

    @classmethod
    def from_frame(cls, frame: ServerFrame) -> PresenceEvent:
        presence = frame.payload.get("presence")
        changed = frame.payload.get("changed")
        return cls(frame.channel, frame.event,
                   changed if isinstance(changed, dict) else {},
                   [p for p in presence if isinstance(p, dict)]
                   if isinstance(presence, list) else [],
                   frame.request_id)


ChannelEvent = Message | PresenceEvent
