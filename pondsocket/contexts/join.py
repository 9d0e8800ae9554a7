"""The context of a channel join request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self

from ..enums import ServerActions
from ..transport.base import Transport, deliver
from ..types import Event, JoinParams, PondAssigns, PondMessage, PondPresence, Route, User
from ..wire import encode_frame, join_refusal
from .base import ChannelUserContext, check_payload

if TYPE_CHECKING:
    from ..channel import Channel
    from ..positions import StreamPosition


class JoinContext(ChannelUserContext):
    """Decides one join: ``await accept()`` or ``await decline(code, message)``.

    After ``accept()`` the user is a member: ``track`` presence, ``reply`` to the joiner,
    broadcast. Assigns set before ``accept()`` are applied when it is called. Assigns are per
    channel: they never leak into the user's other channels.
    """

    def __init__(self, *, channel: Channel, event: Event, transport: Transport,
                 route: Route | None = None, recover_from: StreamPosition | None = None
                 ) -> None:
        self.channel = channel
        # Where the client asks to recover from (the history extension's pond_recover).
        self.recover_from = recover_from
        self.event = event
        self.transport = transport
        self.route = route or Route()
        self._pending_assigns: PondAssigns = {}
        self._responded = False
        self._accepted = False

    @property
    def _acting_user_id(self) -> str:
        return self.transport.get_id()

    @property
    def user_id(self) -> str:
        return self.transport.get_id()

    @property
    def user(self) -> User:
        """The joining user: its channel assigns and presence once accepted; before that,
        its connection assigns with the assigns set so far."""
        member = self.channel.members.get(self.user_id) if self._accepted else None
        if member is not None:
            return self.channel.user_of(member)
        return User(self.user_id, {**self.transport.clone_assigns(), **self._pending_assigns})

    @property
    def join_params(self) -> JoinParams:
        """The payload the client sent with its join."""
        return self.event.payload

    def get_join_params(self) -> JoinParams:
        return self.event.payload

    @property
    def has_responded(self) -> bool:
        return self._responded

    @property
    def is_accepted(self) -> bool:
        return self._accepted

    async def accept(self, assigns: PondAssigns | None = None) -> Self:
        """Admit the user: ``SYSTEM``/``ACKNOWLEDGE`` goes to the joiner first."""
        if self._responded:
            raise RuntimeError("this join was already answered")
        await self.channel.admit_recovering(
            self.transport, {**self._pending_assigns, **(assigns or {})},
            ack_request_id=self.event.request_id, since=self.recover_from)
        self._responded = self._accepted = True
        return self

    async def decline(self, code: int = 403, message: str = "Join declined") -> None:
        """Refuse: ``SYSTEM``/``UNAUTHORIZED`` ``{"code", "message"}`` goes to the joiner."""
        if self._responded:
            raise RuntimeError("this join was already answered")
        if not isinstance(code, int) or not 400 <= code <= 599:
            raise ValueError(f"decline code must be an HTTP error status 400-599, got {code!r}")
        self._responded = True
        deliver(self.transport, join_refusal(self.event.channel_name, self.event.request_id,
                                             code, str(message)))

    def _require_member(self, what: str) -> None:
        if not self._accepted:
            raise RuntimeError(f"accept() the join before calling {what}()")

    async def reply(self, event_name: str, payload: PondMessage) -> Self:
        """Send a ``SYSTEM`` frame to the joiner (after ``accept()``)."""
        self._require_member("reply")
        deliver(self.transport, encode_frame(ServerActions.SYSTEM, event_name, self.channel.name,
                                             self.event.request_id, check_payload(payload)))
        return self

    async def track(self, presence: PondPresence) -> Self:
        """Track the joiner's presence (after ``accept()``)."""
        self._require_member("track")
        await self.channel.track_presence(self.user_id, presence)
        return self

    async def set_assign(self, key: str, value: Any) -> Self:
        if self._accepted:
            await self.channel.update_assign(self.user_id, key, value)
        else:
            self._pending_assigns[key] = value
        return self

    async def assign(self, assigns: PondAssigns) -> Self:
        if self._accepted:
            await self.channel.update_assigns(self.user_id, assigns)
        else:
            self._pending_assigns.update(assigns)
        return self

    async def get_assign(self, key: str) -> Any:
        if self._accepted:
            return await self.channel.get_user_assign(self.user_id, key)
        return self.user.assigns.get(key)


__all__ = ["JoinContext"]
