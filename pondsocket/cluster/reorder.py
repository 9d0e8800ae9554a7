"""Putting each node's channel messages back in the order the node sent them.

A node numbers the messages it may publish again after an outage (broadcasts, evictions;
``REPLAYED`` in :mod:`pondsocket.cluster`) per channel: ``stream`` names the sequence (one
per channel instance on that node) and ``seq`` counts from 1. A peer that missed some of
them (its subscription was down) gets the later ones first, and the missed ones when they
are published again; :class:`Reorderer` holds the later ones until the gap is filled, for a
bounded time, so clients see the messages in the order they were sent.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

#: How long a message waits for the ones before it (they are normally published again
#: within a round trip of the peer's resynchronisation).
HOLD_SECONDS = 1.0

Key = TypeVar("Key", bound=Hashable)
Item = TypeVar("Item")


@dataclass(slots=True)
class _Stream(Generic[Item]):
    token: str
    next: int
    held: dict[int, Item] = field(default_factory=dict)
    held_since: float | None = None


class Reorderer(Generic[Key, Item]):
    """Releases the items of each stream in ``seq`` order.

    The first item seen of a stream sets where it starts, unless :meth:`start` said where
    it stands. An item ahead of the next expected
    one is held; when the gap fills, everything in order is released. Items held for longer
    than ``hold`` seconds are released by :meth:`expired` (the gap is given up: what never
    came is skipped, and an item that comes after all is released at once, late rather than
    never). A new ``token`` for a key starts the stream again (the channel was recreated, or
    the node restarted).
    """

    def __init__(self, hold: float = HOLD_SECONDS) -> None:
        self.hold = hold
        self._streams: dict[Key, _Stream[Item]] = {}

    def accept(self, key: Key, token: str, seq: int, item: Item,
               now: float) -> list[Item]:
        """The items that may be applied now, in order (``item`` among them, or none)."""
        stream = self._streams.get(key)
        if stream is None or stream.token != token:
            self._streams[key] = _Stream(token, seq + 1)
            return [item]
        if seq < stream.next:  # late: its gap was given up
            return [item]
        if seq > stream.next:
            stream.held[seq] = item
            if stream.held_since is None:
                stream.held_since = now
            return []
        ready = [item]
        stream.next += 1
        while stream.next in stream.held:
            ready.append(stream.held.pop(stream.next))
            stream.next += 1
        if not stream.held:
            stream.held_since = None
        return ready

    def start(self, key: Key, token: str, next_seq: int) -> None:
        """Expect ``next_seq`` next on stream ``key`` (the sender said where its numbering
        stands); ignored while that stream is already followed."""
        stream = self._streams.get(key)
        if stream is None or stream.token != token:
            self._streams[key] = _Stream(token, next_seq)

    def expired(self, now: float) -> list[tuple[Key, list[Item]]]:
        """Release, in order, what each stream has held for ``hold`` seconds or more."""
        released: list[tuple[Key, list[Item]]] = []
        for key, stream in self._streams.items():
            if stream.held_since is None or now - stream.held_since < self.hold:
                continue
            items = [stream.held[seq] for seq in sorted(stream.held)]
            stream.next = max(stream.held) + 1
            stream.held.clear()
            stream.held_since = None
            released.append((key, items))
        return released

    def next_expiry(self) -> float | None:
        """When the oldest hold expires (monotonic time), or None when nothing is held."""
        starts = [s.held_since for s in self._streams.values() if s.held_since is not None]
        return min(starts) + self.hold if starts else None

    def forget(self, predicate: Callable[[Key], bool]) -> list[Item]:
        """Drop the streams whose key matches; returns what they held, in order."""
        dropped: list[Item] = []
        for key in [k for k in self._streams if predicate(k)]:
            stream = self._streams.pop(key)
            dropped += [stream.held[seq] for seq in sorted(stream.held)]
        return dropped

    @property
    def held_count(self) -> int:
        """Items held now, over all streams."""
        return sum(len(s.held) for s in self._streams.values())


__all__ = ["HOLD_SECONDS", "Reorderer"]
