"""Sending one channel's presence changes to its tracked members, cheaply in big rooms.

Two kinds of recipient (docs/protocol.md#presence-diffs, docs/big-rooms.md):

* members whose client negotiated the ``presence-diff`` extension get the full state once
  (``PRESENCE``/``STATE``) and then only the changes (``PRESENCE``/``DIFF``), members keyed by
  an opaque per-channel counter key, never their user id. Changes within
  ``presence_coalesce_window`` go out as one ``DIFF``, encoded once for all of them;
* every other member (the upstream clients) gets the upstream frame, ``{"presence": [full
  list], "changed": obj}``: one per change while the channel tracks at most
  ``presence_coalesce_threshold`` members, above that one per window (the current list and
  the window's last change).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from typing import TYPE_CHECKING, Any

import msgspec

from .enums import PresenceEventTypes, ServerActions
from .extensions import PRESENCE_DIFF
from .types import PondPresence
from .wire import encode_frame, encode_json, new_request_id

if TYPE_CHECKING:
    from .channel import Channel, Member

log = logging.getLogger("pondsocket.presence")

#: The event of the full-state frame a diff client gets when it starts receiving presence.
STATE = "STATE"
#: The event of the frame with the changes since the last one.
DIFF = "DIFF"

#: Presence frames queued per loop turn: a big room's presence never holds up other channels.
PRESENCE_BATCH = 128
#: ... and at most about this many bytes of them (a STATE of 5,000 members is ~350 KB).
PRESENCE_TURN_BYTES = 1 << 20


def frames_per_turn(frame_size: int) -> int:
    """How many presence frames of ``frame_size`` bytes are queued per loop turn."""
    return max(1, min(PRESENCE_BATCH, PRESENCE_TURN_BYTES // max(1, frame_size)))

_PRESENCE_EVENTS = (PresenceEventTypes.JOIN, PresenceEventTypes.UPDATE, PresenceEventTypes.LEAVE)


class PresenceFeed:
    """The presence delivery of one :class:`~pondsocket.channel.Channel`.

    The channel calls :meth:`changed` after each change of its presence map (local or
    through its replica); the feed decides who gets what, and when.
    """

    __slots__ = ("_channel_ref", "_flusher", "_joins", "_keys", "_leaves", "_lock", "_next_key",
                 "_sent", "_state_due", "_synced", "_threshold", "_upstream", "_window")

    def __init__(self, channel: Channel, window: float, threshold: int) -> None:
        # Weak: the channel holds its feed, and a closed channel must be freed by reference
        # counting, not left in a cycle for the garbage collector.
        self._channel_ref = weakref.ref(channel)
        self._window = window
        self._threshold = threshold
        # Opaque key of each tracked user (local or remote), for diff clients.
        self._keys: dict[str, str] = {}
        self._next_key = itertools.count(1)
        # Changes not yet sent to diff clients; the keys they already know.
        self._joins: dict[str, PondPresence] = {}
        self._leaves: dict[str, PondPresence] = {}
        self._sent: set[str] = set()
        # Diff members (user ids) that got a STATE and are now fed DIFFs.
        self._synced: set[str] = set()
        self._state_due = False  # a diff member was tracked and waits for its STATE
        # The last (kind, changed) not yet sent to upstream clients, when coalescing.
        self._upstream: tuple[str, PondPresence] | None = None
        self._flusher: asyncio.Task[None] | None = None
        # Sending yields between batches: one send at a time keeps the frames in order.
        self._lock = asyncio.Lock()

    @property
    def _channel(self) -> Channel:
        channel = self._channel_ref()
        if channel is None:  # only reachable through a feed kept past its channel
            raise ReferenceError("the channel of this presence feed is gone")
        return channel

    def key_of(self, user_id: str) -> str | None:
        """The opaque key diff clients know ``user_id``'s presence by (None: not tracked)."""
        return self._keys.get(user_id)

    async def before_update(self, user_id: str) -> None:
        """``user_id``'s presence is about to be updated: a join of it still in the window
        goes out first, so that a join and the update after it stay two events."""
        key = self._keys.get(user_id)
        if key is not None and key in self._joins and key not in self._sent:
            await self.flush()

    async def changed(self, user_id: str, kind: str, data: PondPresence) -> None:
        """``user_id``'s presence was tracked, updated (``data`` the new object) or
        untracked (``data`` the last one): queue or send what each recipient needs."""
        channel = self._channel
        if kind == PresenceEventTypes.LEAVE:
            key = self._keys.pop(user_id, None)
            self._synced.discard(user_id)
            if key is not None:
                self._joins.pop(key, None)
                if key in self._sent:
                    self._leaves[key] = data
        else:
            key = self._keys.get(user_id)
            if key is None:
                key = self._keys[user_id] = format(next(self._next_key), "x")
            self._joins[key] = data
            if user_id not in self._synced and self._diff_member(user_id):
                self._state_due = True
        if self._window > 0 and (self._upstream is not None
                                 or len(channel.presence) > self._threshold):
            self._upstream = (kind, data)
        else:
            async with self._lock:
                _, upstream = self._recipients()
                if upstream:
                    await channel.send_presence(kind, self._full(data), upstream)
        if self._window <= 0:
            async with self._lock:
                await self._flush()
        elif self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._run())

    async def flush(self) -> None:
        """Send what is pending now instead of at the end of the window."""
        async with self._lock:
            await self._flush()

    def close(self) -> None:
        """The channel closed: nothing more is sent."""
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None

    async def _run(self) -> None:
        try:
            while self.pending:
                # The window is a timer by design: changes within it go out together.
                await asyncio.sleep(self._window)
                async with self._lock:
                    await self._flush()
        except Exception:
            log.exception("presence delivery in %s failed", self._channel.name)
        finally:
            self._flusher = None

    @property
    def pending(self) -> bool:
        """Changes wait for the end of their window."""
        return bool(self._joins or self._leaves or self._upstream is not None
                    or self._state_due)

    async def settle(self) -> None:
        """Send pending changes now: called before a message is delivered in the channel,
        so that no message overtakes a presence change made before it."""
        if self.pending:
            await self.flush()

    def _diff_member(self, user_id: str) -> bool:
        member = self._channel.members.get(user_id)
        return member is not None and self._uses_diffs(member)

    def _uses_diffs(self, member: Member) -> bool:
        return PRESENCE_DIFF in member.extensions and not self._has_outgoing

    @property
    def _has_outgoing(self) -> bool:
        # An outgoing handler on presence events may transform or block them per recipient:
        # diffs would bypass it, so in such a lobby every member gets the upstream frames.
        lobby = self._channel.lobby
        return any(lobby.outgoing_route(kind) is not None for kind in _PRESENCE_EVENTS)

    def _recipients(self) -> tuple[list[Member], list[Member]]:
        """The tracked local members: (diff members, upstream members)."""
        members = self._channel.members
        diff: list[Member] = []
        upstream: list[Member] = []
        outgoing = self._has_outgoing
        for uid in self._channel.presence:
            member = members.get(uid)
            if member is not None:
                (diff if PRESENCE_DIFF in member.extensions and not outgoing
                 else upstream).append(member)
        return diff, upstream

    def _full(self, changed: PondPresence) -> dict[str, Any]:
        return {"presence": list(self._channel.presence.values()), "changed": changed}

    async def _flush(self) -> None:
        channel = self._channel
        if not channel.is_active:
            return
        joins, leaves, self._joins, self._leaves = self._joins, self._leaves, {}, {}
        upstream_change, self._upstream = self._upstream, None
        self._state_due = False
        self._sent.update(joins)
        self._sent.difference_update(leaves)
        diff_members, upstream_members = self._recipients()
        synced = [m for m in diff_members if m.user_id in self._synced]
        fresh = [m for m in diff_members if m.user_id not in self._synced]
        self._synced.update(m.user_id for m in fresh)
        if synced and (joins or leaves):
            await channel.send_presence(DIFF, {"joins": joins, "leaves": leaves}, synced,
                                        transformable=False)
        if fresh:
            await self._send_states(fresh)
        if upstream_change is not None and upstream_members:
            kind, changed = upstream_change
            await channel.send_presence(kind, self._full(changed), upstream_members)




    async def _send_states(self, fresh: list[Member]) -> None:
        """The full state to each member in ``fresh``, with its own key: the state is
        encoded once and embedded as it is in each member's frame."""
        channel = self._channel
        keys = self._keys
        state = encode_json({keys[uid]: presence for uid, presence in channel.presence.items()
                             if uid in keys})
        raw = msgspec.Raw(state)
        per_turn = frames_per_turn(len(state))
        for count, member in enumerate(fresh, 1):
            member.send(encode_frame(ServerActions.PRESENCE, STATE, channel.name,
                                     new_request_id(),
                                     {"self": keys.get(member.user_id), "state": raw}))
            if count % per_turn == 0:
                await asyncio.sleep(0)
        channel.frames_delivered += len(fresh)


__all__ = ["DIFF", "PRESENCE_BATCH", "PRESENCE_TURN_BYTES", "STATE", "PresenceFeed",
           "frames_per_turn"]
