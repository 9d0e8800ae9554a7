"""What the join, event and leave contexts share: acting on the channel as one user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from ..types import (
    AllExceptSender,
    AllUsers,
    PondAssigns,
    PondMessage,
    PondPresence,
    Route,
    ToUsers,
)

if TYPE_CHECKING:
    from ..channel import Channel


class ChannelUserContext:
    """Broadcast, assigns and presence reads on ``channel`` on behalf of ``user_id``."""

    channel: Channel
    route: Route

    @property
    def _acting_user_id(self) -> str:
        raise NotImplementedError

    async def broadcast(self, event_name: str, payload: PondMessage) -> Self:
        """Send ``event_name`` to every member of the channel."""
        await self.channel.broadcast_message(event_name, payload, AllUsers())
        return self

    async def broadcast_to(self, event_name: str, payload: PondMessage, *user_ids: str) -> Self:
        """Send ``event_name`` to the given members only."""
        await self.channel.broadcast_message(event_name, payload, ToUsers(tuple(user_ids)))
        return self

    async def broadcast_from(self, event_name: str, payload: PondMessage) -> Self:
        """Send ``event_name`` to every member except this user."""
        await self.channel.broadcast_message(event_name, payload,
                                             AllExceptSender(self._acting_user_id))
        return self

    async def get_all_presence(self) -> dict[str, PondPresence]:
        return await self.channel.get_presence()

    async def get_all_assigns(self) -> dict[str, PondAssigns]:
        return await self.channel.get_assigns()


def check_payload(payload: Any) -> PondMessage:
    if not isinstance(payload, dict):
        raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
    return payload
