"""The presence the inspector has seen for each user id, so ids can be shown with a name
(``3b9c0d1e… (ada)``) where the admin documents carry ids only: connections and events."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

#: The most user ids remembered (the oldest are forgotten first).
MAX_USERS = 10_000
#: Seconds before a channel fetched for names is fetched for them again (its members may
#: have no name at all: it must not be asked for at every poll).
REFETCH_AFTER = 30.0


class NameBook:
    """User id -> the last presence seen for it in a channel document's members."""

    def __init__(self, max_users: int = MAX_USERS, refetch_after: float = REFETCH_AFTER
                 ) -> None:
        self.max_users = max_users
        self.refetch_after = refetch_after
        self._presence: dict[str, dict[str, Any]] = {}
        self._asked: dict[tuple[str, str], float] = {}  # channel -> when fetched for names

    def learn(self, members: Iterable[dict[str, Any]]) -> bool:
        """Remember the presence of each member of a ``/channels/{name}`` document; True
        when a name was added or changed."""
        changed = False
        for member in members:
            presence = member.get("presence")
            uid = member.get("user_id")
            if not isinstance(presence, dict) or not isinstance(uid, str):
                continue
            before = self.name(uid)
            self._presence.pop(uid, None)  # re-inserted: the most recently seen is kept last
            self._presence[uid] = presence
            changed = changed or self.name(uid) != before
        while len(self._presence) > self.max_users:
            del self._presence[next(iter(self._presence))]
        return changed

    def presence(self, user_id: str) -> dict[str, Any] | None:
        """The last presence seen for ``user_id``, or None."""
        return self._presence.get(user_id)

    def name(self, user_id: str) -> str | None:
        """The ``name`` of ``user_id``'s presence (when it has a text one), or None."""
        name = (self._presence.get(user_id) or {}).get("name")
        return name if isinstance(name, str) and name else None

    def unnamed_channels(self, connections: Iterable[dict[str, Any]], limit: int,
                         now: float | None = None) -> list[tuple[str, str]]:
        """Up to ``limit`` ``(endpoint, channel)`` whose documents may name connections that
        have no name yet (each channel once, in the connections' order), leaving out those
        returned in the last :attr:`refetch_after` seconds (``now``: monotonic time)."""
        now = time.monotonic() if now is None else now
        self._asked = {k: t for k, t in self._asked.items() if now - t < self.refetch_after}
        wanted: list[tuple[str, str]] = []
        for doc in connections:
            if len(wanted) >= limit:
                break
            if self.name(str(doc.get("user_id"))) is not None:
                continue
            for channel in doc.get("channels") or []:
                key = (str(doc.get("endpoint")), str(channel))
                if key not in wanted and key not in self._asked:
                    wanted.append(key)
                    break
        for key in wanted:
            self._asked[key] = now
        return wanted
