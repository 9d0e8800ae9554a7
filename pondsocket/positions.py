"""Stream positions of channel history: what a join asks to recover from, and the seam the
history plug-in (:mod:`pondsocket.history`) implements for a lobby.

A client that negotiated the ``history`` extension puts ``"pond_recover": {"epoch": str,
"offset": int}`` in its join payload; the endpoint removes it before any join handler sees
the parameters (see docs/protocol.md, "Extensions").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .wire import WireError

if TYPE_CHECKING:
    from .types import PondMessage, RecipientSpec

RECOVER_KEY = "pond_recover"
# JavaScript's Number.MAX_SAFE_INTEGER: an offset any client can hold exactly.
MAX_OFFSET = 2 ** 53 - 1


@dataclass(frozen=True, slots=True)
class StreamPosition:
    """A place in a channel's stream: the stream's ``epoch`` and an ``offset`` in it."""

    epoch: str
    offset: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One stored broadcast: its offset, what was sent and to whom (``to``: ``"ALL_USERS"``,
    ``"ALL_EXCEPT_SENDER"`` with ``sender``, or a list of user ids) and when (epoch seconds)."""

    offset: int
    event: str
    payload: PondMessage
    request_id: str
    to: str | list[str] = "ALL_USERS"
    sender: str = ""
    time: float = 0.0

    def reaches(self, user_id: str) -> bool:
        """True when the original broadcast was addressed to ``user_id``."""
        if self.to == "ALL_USERS":
            return True
        if self.to == "ALL_EXCEPT_SENDER":
            return user_id != self.sender
        return isinstance(self.to, list) and user_id in self.to


@dataclass(frozen=True, slots=True)
class Recovery:
    """What a join into a history channel gets: ``recovered`` (the missed broadcasts are in
    ``entries``, in order), or not, with the ``reason``; ``position`` is where the client is
    after the acknowledgement (before the replayed entries when recovered)."""

    recovered: bool
    position: StreamPosition
    entries: list[HistoryEntry] = field(default_factory=list)
    reason: str = ""

    def ack_payload(self) -> dict[str, Any]:
        """The ``ACKNOWLEDGE`` payload for a client that negotiated ``history``."""
        payload: dict[str, Any] = {"recovered": self.recovered, "epoch": self.position.epoch,
                                   "offset": self.position.offset}
        if self.reason:
            payload["reason"] = self.reason
        return payload


class ChannelHistory(Protocol):
    """What a lobby with history enabled holds (``lobby.history``). ``shared``: every node
    of a cluster uses the same streams, so broadcasts from other nodes arrive numbered."""

    @property
    def shared(self) -> bool: ...

    async def append(self, channel: str, event: str, payload: PondMessage,
                     recipients: RecipientSpec, request_id: str) -> int:
        """Store one broadcast and return its offset."""
        ...

    async def recover(self, channel: str, since: StreamPosition | None,
                      user_id: str) -> Recovery:
        """The join answer for ``user_id``, recovering from ``since`` when given."""
        ...

    async def position(self, channel: str) -> StreamPosition:
        """The channel's epoch and top offset."""
        ...

    async def read(self, channel: str, after: int = 0,
                   limit: int | None = None) -> list[HistoryEntry]:
        """The stored broadcasts of ``channel`` after offset ``after``, oldest first."""
        ...


def pop_recovery_request(payload: dict[str, Any]) -> StreamPosition | None:
    """Remove ``pond_recover`` from a join payload and return it checked; ``None`` when
    absent. A malformed one raises :class:`WireError` (``pond_recover.epoch: ...``)."""
    if RECOVER_KEY not in payload:
        return None
    raw = payload.pop(RECOVER_KEY)
    if not isinstance(raw, dict):
        raise WireError(RECOVER_KEY, "Expected object {\"epoch\": string, \"offset\": integer}")
    epoch = raw.get("epoch")
    offset = raw.get("offset")
    if not isinstance(epoch, str) or not epoch or len(epoch) > 128:
        raise WireError(f"{RECOVER_KEY}.epoch", "Expected a non-empty string (at most 128)")
    if (not isinstance(offset, int) or isinstance(offset, bool) or offset < 0
            or offset > MAX_OFFSET):
        raise WireError(f"{RECOVER_KEY}.offset", "Expected an integer from 0 to 2^53-1")
    return StreamPosition(epoch, offset)


__all__ = ["MAX_OFFSET", "RECOVER_KEY", "ChannelHistory", "HistoryEntry", "Recovery",
           "StreamPosition", "pop_recovery_request"]
