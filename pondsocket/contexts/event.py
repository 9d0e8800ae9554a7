"""The context of one client event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from ..enums import ServerActions
from ..types import Event, MessageEvent, PondAssigns, PondMessage, PondPresence, Route, User
from ..wire import encode_frame
from .base import ChannelUserContext, check_payload

if TYPE_CHECKING:
    from ..channel import Channel


class EventContext(ChannelUserContext):
    """A client ``BROADCAST`` being handled: reply, broadcast, presence, assigns, evict.

    Presence and eviction methods act on the sender unless user ids are given.
    """

    def __init__(self, *, channel: Channel, message: MessageEvent,
                 route: Route | None = None) -> None:
        self.channel = channel
        self.message = message
        self.event: Event = message.event
        self.user: User = message.user
        self.route = route or Route()
        self._replied = False

    @property
    def _acting_user_id(self) -> str:
        return self.user.id

    @property
    def request_id(self) -> str:
        return self.event.request_id

    @property
    def event_name(self) -> str:
        return self.event.event

    @property
    def payload(self) -> PondMessage:
        return self.event.payload

    def get_payload(self) -> PondMessage:
        return self.event.payload

    def get_user(self) -> User:
        return self.user

    def has_replied(self) -> bool:
        return self._replied

    async def reply(self, event_name: str, payload: PondMessage) -> Self:
        """Answer the sender: a ``SYSTEM`` frame carrying the client's ``requestId``.

        One reply per event; a second one raises ``RuntimeError``.
        """
        if self._replied:
            raise RuntimeError("this event was already replied to")
        member = self.channel.members.get(self.user.id)
        if member is None:
            return self
        self._replied = True
        member.send(encode_frame(ServerActions.SYSTEM, event_name, self.channel.name,
                                 self.event.request_id, check_payload(payload)))
        return self

    def _targets(self, user_ids: tuple[str, ...]) -> tuple[str, ...]:
        return user_ids or (self.user.id,)

    async def track(self, presence: PondPresence, *user_ids: str) -> Self:
        for uid in self._targets(user_ids):
            await self.channel.track_presence(uid, presence)
        return self

    async def update_presence(self, presence: PondPresence, *user_ids: str) -> Self:
        for uid in self._targets(user_ids):
            await self.channel.update_presence(uid, presence)
        return self

    async def upsert_presence(self, presence: PondPresence, *user_ids: str) -> Self:
        for uid in self._targets(user_ids):
            await self.channel.upsert_presence(uid, presence)
        return self

    async def untrack(self, *user_ids: str) -> Self:
        for uid in self._targets(user_ids):
            await self.channel.untrack_presence(uid)
        return self

    async def evict(self, reason: str, *user_ids: str) -> Self:
        """Remove members from the channel; each gets ``SYSTEM``/``EVICTED`` ``{"reason"}``."""
        for uid in self._targets(user_ids):
            await self.channel.evict_user(uid, reason)
        return self

    async def set_assign(self, key: str, value: Any) -> Self:
        """Set one of the sender's channel assigns (server-side only, never sent)."""
        await self.channel.update_assign(self.user.id, key, value)
        self.user.assigns[key] = value
        return self

    async def assign(self, assigns: PondAssigns) -> Self:
        await self.channel.update_assigns(self.user.id, assigns)
        self.user.assigns.update(assigns)
        return self

    async def get_assign(self, key: str) -> Any:
        return self.user.assigns.get(key)


__all__ = ["EventContext"]
