"""The context of one outgoing event for one recipient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from ..types import Event, PondMessage, Route, User
from .base import check_payload

if TYPE_CHECKING:
    from ..channel import Channel
    from ..transport.base import Transport


class OutgoingContext:
    """Lets an ``on_outgoing`` handler ``transform`` or ``block`` one delivery.

    Runs for ``BROADCAST`` and ``PRESENCE`` frames whose event matches the handler's pattern,
    once per recipient. Events without an outgoing handler skip this entirely (fast path).
    """

    def __init__(self, *, channel: Channel, event: Event, user: User, transport: Transport,
                 route: Route | None = None) -> None:
        self.channel = channel
        self.event = event
        self.user = user
        self.transport = transport
        self.route = route or Route()
        self._payload: PondMessage = event.payload
        self._blocked = False
        self._transformed = False

    def block(self) -> Self:
        """Do not deliver this event to this recipient."""
        self._blocked = True
        return self

    def unblock(self) -> Self:
        self._blocked = False
        return self

    def is_blocked(self) -> bool:
        return self._blocked

    def transform(self, payload: PondMessage) -> Self:
        """Deliver ``payload`` instead of the original payload to this recipient."""
        self._payload = check_payload(payload)
        self._transformed = True
        return self

    def has_transformed(self) -> bool:
        return self._transformed

    @property
    def payload(self) -> PondMessage:
        return self._payload

    def get_payload(self) -> PondMessage:
        return self._payload

    def get_event(self) -> str:
        return self.event.event

    def get_user(self) -> User:
        return self.user

    async def refresh_user(self) -> Self:
        """Re-read the recipient's assigns and presence from the channel."""
        self.user = await self.channel.get_user(self.user.id)
        return self

    def get_assign(self, key: str) -> Any:
        return self.user.assigns.get(key)


__all__ = ["OutgoingContext"]
