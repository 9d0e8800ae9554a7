"""The admin document of a channel's history: ``GET /channels/{name}/history``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..server import PondSocket

#: Most entries one history document lists.
MAX_HISTORY_LIMIT = 1000


async def history_document(pond: PondSocket, name: str, endpoint: str | None, *,
                           after: int = 0, limit: int = 100,
                           payloads: bool = False) -> dict[str, Any] | None:
    """The stored broadcasts of channel ``name`` after offset ``after`` (oldest first, at
    most ``limit``), with the stream's epoch and top offset; payloads only with
    ``payloads``. ``None`` when no lobby with history matches the name (the channel need not
    be live: history outlives its members)."""
    for candidate in pond.endpoints:
        if endpoint is not None and candidate.path != endpoint:
            continue
        found = candidate.match_lobby(name)
        if found is None or found[0].history is None:
            continue
        history = found[0].history
        position = await history.position(name)
        entries = []
        for entry in await history.read(name, after, limit):
            item: dict[str, Any] = {"offset": entry.offset, "event": entry.event,
                                    "time": entry.time, "request_id": entry.request_id,
                                    "to": entry.to}
            if payloads:
                item["payload"] = entry.payload
            entries.append(item)
        return {"channel": name, "endpoint": candidate.path, "epoch": position.epoch,
                "offset": position.offset, "payloads": payloads, "entries": entries}
    return None


__all__ = ["MAX_HISTORY_LIMIT", "history_document"]
