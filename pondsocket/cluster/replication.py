"""Applying another node's change of a channel to this node's replica of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..enums import DistributedMessageType as T
from ..enums import LeaveReason

if TYPE_CHECKING:
    from ..channel import Channel

#: The message types :func:`apply_change` handles (the node handles the state exchange).
CHANGES = frozenset({T.USER_MESSAGE, T.PRESENCE_UPDATE, T.PRESENCE_REMOVED, T.USER_JOINED,
                     T.USER_LEFT, T.ASSIGNS_UPDATE, T.EVICT_USER, T.USER_REMOVE})


async def apply_change(channel: Channel, source: str, m: dict[str, Any]) -> None:
    """Apply message ``m`` from node ``source`` (one of :data:`CHANGES`) to ``channel``:
    through its replica for the members ``source`` holds, and for an eviction or removal of
    a member of this node, through the channel itself (which tells the peers)."""
    kind = m.get("type")
    uid = m.get("userId", "")
    replica = channel.replica
    if kind == T.USER_MESSAGE:
        await replica.message(m["event"], m.get("payload") or {}, m.get("requestId", ""),
                              m.get("fromUserId", ""), m.get("recipientDescriptor"),
                              m.get("offset"))
    elif kind == T.PRESENCE_UPDATE:
        await replica.presence_changed(uid, source, m.get("presence") or {})
    elif kind == T.PRESENCE_REMOVED:
        await replica.presence_removed(uid)
    elif kind == T.USER_JOINED:
        await replica.joined(uid, source, m.get("assigns") or {}, m.get("presence") or None)
    elif kind == T.USER_LEFT:
        await replica.left(uid)
    elif kind == T.ASSIGNS_UPDATE:
        if "assigns" in m:
            replica.assigns_replaced(uid, m["assigns"])
        elif "key" in m:
            replica.assign_set(uid, m["key"], m.get("value"))
    elif kind == T.EVICT_USER:
        if uid in channel.members:
            await channel.evict_user(uid, m.get("reason") or "Evicted")
    elif kind == T.USER_REMOVE and uid in channel.members:
        await channel.remove_user(uid, LeaveReason.EVICTED)


__all__ = ["CHANGES", "apply_change"]
