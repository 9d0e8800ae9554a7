"""The ordered, bounded outbound queue.

Frames leave in the order they were sent. A channel's messages wait in its *held* queue
while the channel is not joined (before the first acknowledgement, and after a reconnect
until the rejoin is acknowledged) and move to the *ready* queue, in order, once it is. The
writer task sends the ready queue while the connection is up. When the connection drops,
unsent messages go back to the front of their channel's held queue; joins and leaves are not
kept (channels rejoin by themselves). At most ``limit`` messages are queued in total.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from .errors import QueueFullError
from .protocol import BROADCAST

_seq = itertools.count()


@dataclass(slots=True, eq=False)
class Outbound:
    """One client frame on its way out."""

    text: str
    action: str
    channel: str
    request_id: str
    event: str = ""
    sent: bool = False
    seq: int = field(default_factory=lambda: next(_seq))

    @property
    def is_data(self) -> bool:
        return self.action == BROADCAST


class OutboundQueue:
    """Ready and held frames, with the overflow policy applied to messages."""

    def __init__(self, limit: int, overflow: str = "reject") -> None:
        self.limit = limit
        self.overflow = overflow
        self.ready: deque[Outbound] = deque()
        self.held: dict[str, deque[Outbound]] = {}
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.drained.set()

    def __len__(self) -> int:
        """Messages queued (ready or held), joins and leaves not counted."""
        return sum(1 for item in self.ready if item.is_data) + sum(
            len(q) for q in self.held.values())

    def put(self, item: Outbound, *, ready: bool) -> Outbound | None:
        """Queue a message; returns the message dropped to make room, if any.

        Raises :class:`QueueFullError` when full and the policy is ``"reject"``.
        """
        dropped = None
        if len(self) >= self.limit:
            if self.overflow == "reject":
                raise QueueFullError(
                    f"outbound queue full ({self.limit} messages waiting): the client is "
                    "disconnected or cannot send fast enough")
            dropped = self._drop_oldest()
        if ready:
            self._append_ready(item)
        else:
            self.held.setdefault(item.channel, deque()).append(item)
        return dropped

    def put_control(self, item: Outbound) -> None:
        """Queue a join or leave (never refused)."""
        self._append_ready(item)

    def _append_ready(self, item: Outbound) -> None:
        self.ready.append(item)
        self.drained.clear()
        self.wake.set()

    def release(self, channel: str) -> None:
        """The channel is joined: its held messages become ready, in order."""
        held = self.held.pop(channel, None)
        if held:
            self.ready.extend(held)
            self.drained.clear()
            self.wake.set()

    def hold_unsent(self) -> None:
        """The connection dropped: unsent messages go back to their channels' held queues
        (ahead of anything held since); joins and leaves are forgotten."""
        while self.ready:
            item = self.ready.pop()
            if item.is_data:
                self.held.setdefault(item.channel, deque()).appendleft(item)
        self.drained.set()

    def pop(self) -> Outbound | None:
        if self.ready:
            return self.ready.popleft()
        return None

    def push_front(self, item: Outbound) -> None:
        self.ready.appendleft(item)
        self.drained.clear()

    def discard(self, request_id: str) -> bool:
        """Remove a message that was not sent yet (a request that timed out)."""
        for queue in (self.ready, *self.held.values()):
            for item in queue:
                if item.request_id == request_id:
                    queue.remove(item)
                    return True
        return False

    def drop_channel(self, channel: str) -> list[Outbound]:
        """Forget every queued message of a channel that ended; returns them."""
        dropped = list(self.held.pop(channel, ()))
        kept: deque[Outbound] = deque()
        for item in self.ready:
            if item.channel == channel and item.is_data:
                dropped.append(item)
            else:
                kept.append(item)
        self.ready = kept
        return dropped

    def clear(self) -> list[Outbound]:
        items = [i for i in self.ready if i.is_data]
        for queue in self.held.values():
            items.extend(queue)
        self.ready.clear()
        self.held.clear()
        self.drained.set()
        return items

    def _drop_oldest(self) -> Outbound | None:
        candidates = [q for q in (self.ready, *self.held.values()) if q]
        best: tuple[deque[Outbound], Outbound] | None = None
        for queue in candidates:
            for item in queue:
                if item.is_data:
                    if best is None or item.seq < best[1].seq:
                        best = (queue, item)
                    break
        if best is None:
            return None
        best[0].remove(best[1])
        return best[1]
