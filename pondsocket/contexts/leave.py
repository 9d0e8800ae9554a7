"""The context of a user who left a channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from ..types import PondMessage, Route, User
from .base import ChannelUserContext

if TYPE_CHECKING:
    from ..channel import Channel


class LeaveContext(ChannelUserContext):
    """Final clean-up after a leave; the user is already removed from the channel.

    ``reason`` is one of ``explicit_leave``, ``connection_closed``, ``evicted`` and
    ``channel_closed``. One broadcast is allowed (a second one raises ``RuntimeError``).
    """

    def __init__(self, *, channel: Channel, user: User, reason: str,
                 route: Route | None = None) -> None:
        self.channel = channel
        self.user = user
        self.reason = reason
        self.route = route or Route()
        self._broadcast_done = False

    @property
    def _acting_user_id(self) -> str:
        return self.user.id

    def get_reason(self) -> str:
        return self.reason

    def get_user(self) -> User:
        return self.user

    def get_assign(self, key: str) -> Any:
        return self.user.assigns.get(key)

    async def remaining_user_count(self) -> int:
        return await self.channel.user_count()

    def _once(self) -> None:
        if self._broadcast_done:
            raise RuntimeError("a leave handler may broadcast only once")
        self._broadcast_done = True

    async def broadcast(self, event_name: str, payload: PondMessage) -> Self:
        self._once()
        return await super().broadcast(event_name, payload)

    async def broadcast_to(self, event_name: str, payload: PondMessage, *user_ids: str) -> Self:
        self._once()
        return await super().broadcast_to(event_name, payload, *user_ids)

    async def broadcast_from(self, event_name: str, payload: PondMessage) -> Self:
        self._once()
        return await super().broadcast_from(event_name, payload)


__all__ = ["LeaveContext"]
