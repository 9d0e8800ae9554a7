"""Channel history and recovery on rejoin (opt-in per lobby).

Every broadcast in a lobby with history gets an increasing offset in its channel's stream;
a client that negotiated the ``history`` extension rejoins with the epoch and offset it saw
last and gets every broadcast it missed, in order, or is told recovery failed::

    lobby = endpoint.create_channel("/chat/:room", join)
    enable_history(lobby, HistoryOptions(size=200, ttl=600))

See docs/recovery.md.
"""

from __future__ import annotations

from ..lobby import Lobby
from .log import EPOCH_CHANGED, FROM_THE_FUTURE, TOO_MANY, TOO_OLD, LobbyHistory
from .options import HistoryOptions
from .store import HistoryStore, MemoryHistoryStore, new_epoch


def enable_history(lobby: Lobby, options: HistoryOptions | None = None,
                   store: HistoryStore | None = None) -> LobbyHistory:
    """Keep history for every channel of ``lobby`` (in memory unless ``store`` is given)."""
    history = LobbyHistory(options, store)
    lobby.history = history
    return history


__all__ = ["EPOCH_CHANGED", "FROM_THE_FUTURE", "TOO_MANY", "TOO_OLD", "HistoryOptions",
           "HistoryStore", "LobbyHistory", "MemoryHistoryStore", "enable_history",
           "new_epoch"]
