"""One lobby's history: offsets for its broadcasts and the recovery decision on rejoin."""

from __future__ import annotations

from ..positions import HistoryEntry, Recovery, StreamPosition
from ..types import AllExceptSender, AllUsers, PondMessage, RecipientSpec
from .options import HistoryOptions
from .store import HistoryStore, MemoryHistoryStore

# Why a recovery failed, as the ACKNOWLEDGE payload's "reason" says it.
EPOCH_CHANGED = "epoch changed"
FROM_THE_FUTURE = "offset from the future"
TOO_MANY = "too many missed messages"
TOO_OLD = "offset too old"


class LobbyHistory:
    """The :class:`~pondsocket.positions.ChannelHistory` of one lobby over a store."""

    def __init__(self, options: HistoryOptions | None = None,
                 store: HistoryStore | None = None) -> None:
        self.options = options or HistoryOptions()
        self.store: HistoryStore = store if store is not None else MemoryHistoryStore()

    @property
    def shared(self) -> bool:
        """True when every node uses the same streams (see :class:`HistoryStore`)."""
        return self.store.shared

    async def append(self, channel: str, event: str, payload: PondMessage,
                     recipients: RecipientSpec, request_id: str) -> int:
        if isinstance(recipients, AllUsers):
            to: str | list[str] = "ALL_USERS"
            sender = ""
        elif isinstance(recipients, AllExceptSender):
            to, sender = "ALL_EXCEPT_SENDER", recipients.sender_id
        else:
            to, sender = list(recipients.user_ids), ""
        return await self.store.append(channel, event, payload, request_id, to, sender,
                                       self.options)

    async def position(self, channel: str) -> StreamPosition:
        """The channel's epoch and top offset."""
        return await self.store.position(channel, self.options)

    async def read(self, channel: str, after: int = 0,
                   limit: int | None = None) -> list[HistoryEntry]:
        """The stored broadcasts of ``channel`` after offset ``after``, oldest first."""
        return await self.store.read(channel, after, limit or self.options.size, self.options)

    async def recover(self, channel: str, since: StreamPosition | None,
                      user_id: str) -> Recovery:
        top = await self.position(channel)
        if since is None:
            return Recovery(False, top)
        if since.epoch != top.epoch:
            return Recovery(False, top, reason=EPOCH_CHANGED)
        if since.offset > top.offset:
            return Recovery(False, top, reason=FROM_THE_FUTURE)
        missed = top.offset - since.offset
        limit = self.options.recovery_limit
        if missed > limit:
            return Recovery(False, top, reason=TOO_MANY)
        if missed == 0:
            return Recovery(True, since)
        entries = await self.store.read(channel, since.offset, limit + 1, self.options)
        # Never a partial replay: the window must still start right after the client.
        if not entries or entries[0].offset != since.offset + 1:
            return Recovery(False, top, reason=TOO_OLD)
        if len(entries) > limit:
            return Recovery(False, top, reason=TOO_MANY)
        return Recovery(True, since, [e for e in entries if e.reaches(user_id)])


__all__ = ["EPOCH_CHANGED", "FROM_THE_FUTURE", "TOO_MANY", "TOO_OLD", "LobbyHistory"]
