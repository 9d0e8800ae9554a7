"""Where channel history lives: the store protocol and the in-memory store.

A store keeps one stream per channel: an epoch (a random string, new whenever the stream
may have lost messages), the top offset (the last one assigned) and a window of entries.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from typing import Protocol

from ..positions import HistoryEntry, StreamPosition
from ..types import PondMessage
from .options import HistoryOptions


def new_epoch() -> str:
    """A fresh epoch: never equal to an earlier one."""
    return uuid.uuid4().hex[:16]


class HistoryStore(Protocol):
    """The storage a :class:`~pondsocket.history.LobbyHistory` uses. ``shared`` is True when
    every node of a cluster uses the same streams (Redis): the publishing node numbers a
    broadcast and the others deliver it with that offset; False (in memory) when each node
    numbers the broadcasts it sees in its own stream."""

    shared: bool

    async def append(self, stream: str, event: str, payload: PondMessage, request_id: str,
                     to: str | list[str], sender: str, options: HistoryOptions) -> int:
        """Store a broadcast and return its offset (the previous top + 1)."""
        ...

    async def position(self, stream: str, options: HistoryOptions) -> StreamPosition:
        """The stream's epoch and top offset (a new stream at offset 0 when none exists)."""
        ...

    async def read(self, stream: str, after: int, limit: int,
                   options: HistoryOptions) -> list[HistoryEntry]:
        """Up to ``limit`` entries with an offset above ``after``, oldest first, still in
        the window (by size and age)."""
        ...


class _Stream:
    __slots__ = ("entries", "epoch", "top", "touched")

    def __init__(self) -> None:
        self.epoch = new_epoch()
        self.top = 0
        self.entries: deque[HistoryEntry] = deque()
        self.touched = time.time()


class MemoryHistoryStore:
    """History in this process: lost on a restart, so every process start is a new epoch.

    Streams idle for longer than ``meta_ttl`` are dropped (checked as streams are used), so
    memory stays bounded by the channels in use.
    """

    shared = False

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}
        self._sweep_at = 0.0

    def _stream(self, name: str, options: HistoryOptions, now: float) -> _Stream:
        if now >= self._sweep_at:
            self._sweep(options, now)
        stream = self._streams.get(name)
        if stream is None or now - stream.touched > options.meta_ttl:
            stream = self._streams[name] = _Stream()
        return stream

    def _sweep(self, options: HistoryOptions, now: float) -> None:
        self._sweep_at = now + options.meta_ttl / 10
        for name in [n for n, s in self._streams.items() if now - s.touched > options.meta_ttl]:
            del self._streams[name]

    @staticmethod
    def _trim(stream: _Stream, options: HistoryOptions, now: float) -> None:
        entries = stream.entries
        while len(entries) > options.size:
            entries.popleft()
        oldest = now - options.ttl
        while entries and entries[0].time < oldest:
            entries.popleft()

    async def append(self, stream: str, event: str, payload: PondMessage, request_id: str,
                     to: str | list[str], sender: str, options: HistoryOptions) -> int:
        now = time.time()
        s = self._stream(stream, options, now)
        s.top += 1
        s.touched = now
        s.entries.append(HistoryEntry(s.top, event, payload, request_id, to, sender, now))
        self._trim(s, options, now)
        return s.top

    async def position(self, stream: str, options: HistoryOptions) -> StreamPosition:
        s = self._stream(stream, options, time.time())
        return StreamPosition(s.epoch, s.top)

    async def read(self, stream: str, after: int, limit: int,
                   options: HistoryOptions) -> list[HistoryEntry]:
        now = time.time()
        s = self._stream(stream, options, now)
        self._trim(s, options, now)
        out: list[HistoryEntry] = []
        for entry in s.entries:
            if entry.offset > after:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def forget(self, stream: str) -> None:
        """Drop a stream (its next use starts a new epoch), as a lost store would."""
        self._streams.pop(stream, None)


__all__ = ["HistoryStore", "MemoryHistoryStore", "new_epoch"]
