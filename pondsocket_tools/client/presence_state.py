"""A channel's presence as the SDK keeps it: from upstream frames or from diffs.

A server that granted the ``presence-diff`` extension sends ``PRESENCE``/``STATE`` (the whole
state, by opaque key) and then ``PRESENCE``/``DIFF`` (joins and leaves); any other server
sends the upstream frame with the full list. Both become the same :class:`PresenceEvent`\\ s
(docs/protocol.md#presence-diffs).
"""

from __future__ import annotations

from typing import Any

from .protocol import PresenceEvent, ServerFrame

#: Events of the presence-diff extension's frames.
STATE = "STATE"
DIFF = "DIFF"
JOIN, UPDATE, LEAVE = "JOIN", "UPDATE", "LEAVE"


def _entries(value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, dict)}


class PresenceState:
    """The presence of one channel: apply each ``PRESENCE`` frame, get its events."""

    __slots__ = ("_by_key", "_list")

    def __init__(self) -> None:
        # With diffs: entries by key (in the server's order). Without: the last full list.
        self._by_key: dict[str, dict[str, Any]] = {}
        self._list: list[dict[str, Any]] = []

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The current presence list (shared: callers copy)."""
        return self._list

    def __len__(self) -> int:
        return len(self._list)

    def clear(self) -> None:
        self._by_key = {}
        self._list = []

    def apply(self, frame: ServerFrame) -> list[PresenceEvent]:
        """Apply ``frame``; the events it means, each with the list after the frame."""
        if frame.event == STATE:
            return self._apply_state(frame)
        if frame.event == DIFF:
            return self._apply_diff(frame)
        event = PresenceEvent.from_frame(frame)
        self._by_key = {}
        self._list = event.presence
        return [event]

    def _apply_state(self, frame: ServerFrame) -> list[PresenceEvent]:
        # A STATE is what an upstream server's JOIN frame for this client is: this client
        # is now tracked, here is everyone. One JOIN event, ``changed`` its own entry.
        self._by_key = _entries(frame.payload.get("state"))
        self._list = list(self._by_key.values())
        own = self._by_key.get(str(frame.payload.get("self")), {})
        return self._events(frame, [(JOIN, own)])

    def _apply_diff(self, frame: ServerFrame) -> list[PresenceEvent]:
        state = self._by_key
        events: list[tuple[str, dict[str, Any]]] = []
        for key, entry in _entries(frame.payload.get("joins")).items():
            events.append((UPDATE if key in state else JOIN, entry))
            state[key] = entry
        for key, entry in _entries(frame.payload.get("leaves")).items():
            if state.pop(key, None) is not None:
                events.append((LEAVE, entry))
        self._list = list(state.values())
        return self._events(frame, events)

    def _events(self, frame: ServerFrame,
                changes: list[tuple[str, dict[str, Any]]]) -> list[PresenceEvent]:
        # One list for all the frame's events: a DIFF of k changes costs O(N), not O(k*N).
        presence = self._list
        return [PresenceEvent(frame.channel, kind, entry, presence, frame.request_id)
                for kind, entry in changes]


__all__ = ["DIFF", "STATE", "PresenceState"]
