"""Small keyed stores with the upstream async API, and a presence view of a channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from .errors import conflict, not_found
from .types import PondPresence

if TYPE_CHECKING:
    from .channel import Channel

T = TypeVar("T")


class Store(Generic[T]):
    """A dict with explicit create/update semantics (409 on duplicate, 404 on missing).

    No locks: on one event loop a dict operation is never interrupted.
    """

    def __init__(self) -> None:
        self._data: dict[str, T] = {}

    async def create(self, key: str, value: T) -> None:
        if key in self._data:
            raise conflict("", f"{key} already exists")
        self._data[key] = value

    async def read(self, key: str) -> T:
        try:
            return self._data[key]
        except KeyError:
            raise not_found("", f"{key} does not exist") from None

    async def get(self, key: str, default: T | None = None) -> T | None:
        return self._data.get(key, default)

    async def has(self, key: str) -> bool:
        return key in self._data

    async def update(self, key: str, value: T) -> None:
        if key not in self._data:
            raise not_found("", f"{key} does not exist")
        self._data[key] = value

    async def upsert(self, key: str, value: T) -> None:
        self._data[key] = value

    async def delete(self, key: str) -> None:
        if self._data.pop(key, _MISSING) is _MISSING:
            raise not_found("", f"{key} does not exist")

    async def discard(self, key: str) -> bool:
        return self._data.pop(key, _MISSING) is not _MISSING

    async def snapshot(self) -> dict[str, T]:
        return dict(self._data)

    async def keys(self) -> list[str]:
        return list(self._data)

    async def values(self) -> list[T]:
        return list(self._data.values())

    async def get_many(self, *keys: str) -> list[T]:
        return [self._data[k] for k in keys if k in self._data]

    async def len(self) -> int:
        return len(self._data)

    async def clear(self) -> None:
        self._data.clear()


_MISSING = object()


class PresenceClient:
    """The presence of one channel, as a store. Changes notify the channel's members."""

    def __init__(self, host: Channel) -> None:
        self._host = host

    async def track(self, user_id: str, data: PondPresence) -> None:
        await self._host.track_presence(user_id, data)

    async def update(self, user_id: str, data: PondPresence) -> None:
        await self._host.update_presence(user_id, data)

    async def upsert(self, user_id: str, data: PondPresence) -> None:
        await self._host.upsert_presence(user_id, data)

    async def untrack(self, user_id: str) -> None:
        await self._host.untrack_presence(user_id)

    async def get(self, user_id: str) -> PondPresence:
        presence = await self._host.get_presence()
        if user_id not in presence:
            raise not_found(self._host.name, f"Presence of {user_id} is not tracked")
        return presence[user_id]

    async def get_all(self) -> dict[str, PondPresence]:
        return await self._host.get_presence()

    async def has(self, user_id: str) -> bool:
        return user_id in await self._host.get_presence()

    async def keys(self) -> list[str]:
        return list(await self._host.get_presence())

    async def values(self) -> list[PondPresence]:
        return list((await self._host.get_presence()).values())

    async def len(self) -> int:
        return len(await self._host.get_presence())


__all__ = ["T", "PresenceClient", "Store"]
