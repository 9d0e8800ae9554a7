"""Which presence entry is this client's own.

Presence entries carry no user ids (only what the app tracked), so the client learns its own
entry from the first presence frame after its join: a server sends presence only to tracked
members, so the first frame a new member receives is the ``JOIN`` that tracked it, and its
``changed`` object is the member's entry. This holds for any PondSocket server.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pondsocket_tools.client import Channel, Message, PresenceEvent

from .output import name_in


@dataclass(slots=True)
class FirstEvents:
    """What arrived on a channel right after the join, up to its first presence frame."""

    items: list[Message | PresenceEvent] = field(default_factory=list)
    own_entry: dict[str, Any] | None = None
    presence_received: bool = False


async def first_events(chat: Channel, wait: float) -> FirstEvents:
    """Read ``chat``'s events until its first presence frame (at most ``wait`` seconds).

    The items read are returned in order for the caller to show; whatever arrives later
    stays in the channel for its next iterator.
    """
    result = FirstEvents()
    events = chat.events()
    try:
        async with asyncio.timeout(wait):
            async for item in events:
                result.items.append(item)
                if isinstance(item, PresenceEvent):
                    result.presence_received = True
                    if item.kind == "JOIN":
                        result.own_entry = dict(item.changed)
                    break
    except TimeoutError:
        pass
    finally:
        events.aclose_nowait()
    return result


def without_own(presence: list[dict[str, Any]], own: dict[str, Any] | None
                ) -> list[dict[str, Any]]:
    """``presence`` without one entry equal to ``own`` (others may look the same)."""
    others = list(presence)
    if own is not None and own in others:
        others.remove(own)
    return others


def display_name(own: dict[str, Any] | None, params: dict[str, Any],
                 join_params: dict[str, Any], user_id: str | None) -> str:
    """How to name this client to its user: the name in its own presence entry, else a
    ``name`` it sent (query or join parameter), else its user id."""
    name = name_in(own) if own else None
    if name:
        return name
    for source in (join_params, params):
        name = source.get("name")
        if isinstance(name, str) and name:
            return name
    return user_id or "?"


__all__ = ["FirstEvents", "display_name", "first_events", "without_own"]
