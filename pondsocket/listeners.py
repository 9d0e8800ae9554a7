"""What happened in the core, told to the plug-ins attached to a server.

A :class:`PondListener` hears the lifecycle of one :class:`~pondsocket.PondSocket`:
connections opening and closing, channels opening and closing, members joining and leaving,
presence and assigns changing, broadcasts, handler errors, the server closing. Metrics, the
admin event stream and the cluster all listen through it::

    class JoinCounter(PondListener):
        def __init__(self) -> None:
            self.joins = 0

        def member_joined(self, channel, member) -> None:
            self.joins += 1

    pond.attach(JoinCounter())

Every method of the base class does nothing: override what you need. They run synchronously
on the event loop, in the core's hot path: keep them cheap and never await. A listener that
raises is logged and the core goes on with the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from .types import PondAssigns, PondMessage, PondPresence, RecipientSpec

if TYPE_CHECKING:
    from .channel import Channel, Member

log = logging.getLogger("pondsocket.listeners")

L = TypeVar("L", bound="PondListener")


class PondListener:
    """The lifecycle moments of a server. ``channel`` and ``member`` are live core objects:
    read them, never keep or change them."""

    def connection_opened(self, endpoint_path: str, user_id: str) -> None:
        """A connection was accepted and registered on the endpoint at ``endpoint_path``."""

    def connection_closed(self, endpoint_path: str, user_id: str, duration: float) -> None:
        """A registered connection closed after ``duration`` seconds."""

    def channel_opened(self, channel: Channel) -> None:
        """A channel was created on this node (its first join is under way)."""

    def channel_closed(self, channel: Channel) -> None:
        """A channel closed on this node (its last local member left, or it was closed)."""

    def member_joined(self, channel: Channel, member: Member) -> None:
        """A user connected to this node became a member of ``channel``."""

    def member_left(self, channel: Channel, user_id: str) -> None:
        """A user connected to this node stopped being a member of ``channel``."""

    def presence_changed(self, channel: Channel, user_id: str, kind: str,
                         presence: PondPresence, *, local: bool) -> None:
        """A member's presence was tracked (``kind`` ``JOIN``), updated (``UPDATE``) or
        untracked (``LEAVE``: ``presence`` is the last one). ``local`` is False when the
        member is connected to another node and the change came from there."""

    def assigns_changed(self, channel: Channel, user_id: str, assigns: PondAssigns) -> None:
        """A local member's assigns changed (``assigns``: all of them, after the change)."""

    def broadcast_sent(self, channel: Channel, event: str, payload: PondMessage,
                       recipients: RecipientSpec, request_id: str, delivered: int) -> None:
        """This node broadcast ``event`` in ``channel``: ``delivered`` frames were queued for
        its local members (a broadcast from another node is not reported again)."""

    def handler_failed(self, channel: Channel, user_id: str, event: str, code: int,
                       message: str) -> None:
        """A client event in ``channel`` was answered with an ``ERROR`` frame (no handler,
        or the handler raised)."""

    def server_closing(self) -> None:
        """:meth:`PondSocket.close` has begun."""


class Listeners(PondListener):
    """The listeners attached to one server, told in the order they were attached.

    The core holds this one object and calls it as if it were a single listener.
    """

    def __init__(self) -> None:
        self._listeners: tuple[PondListener, ...] = ()

    def attach(self, listener: PondListener, *, first: bool = False) -> None:
        """Tell ``listener`` from now on, after the others (before them with ``first``)."""
        if listener not in self._listeners:
            self._listeners = ((listener, *self._listeners) if first
                               else (*self._listeners, listener))

    def detach(self, listener: PondListener) -> None:
        self._listeners = tuple(x for x in self._listeners if x is not listener)

    def find(self, kind: type[L]) -> L | None:
        """The first attached listener that is a ``kind``, or None."""
        return next((x for x in self._listeners if isinstance(x, kind)), None)

    def __len__(self) -> int:
        return len(self._listeners)

    def __iter__(self) -> Iterator[PondListener]:
        return iter(self._listeners)

    def _tell(self, method: str, *args: Any, **kwargs: Any) -> None:
        for listener in self._listeners:
            try:
                getattr(listener, method)(*args, **kwargs)
            except Exception:
                log.exception("listener %r failed in %s", listener, method)

    def connection_opened(self, endpoint_path: str, user_id: str) -> None:
        self._tell("connection_opened", endpoint_path, user_id)

    def connection_closed(self, endpoint_path: str, user_id: str, duration: float) -> None:
        self._tell("connection_closed", endpoint_path, user_id, duration)

    def channel_opened(self, channel: Channel) -> None:
        self._tell("channel_opened", channel)

    def channel_closed(self, channel: Channel) -> None:
        self._tell("channel_closed", channel)

    def member_joined(self, channel: Channel, member: Member) -> None:
        self._tell("member_joined", channel, member)

    def member_left(self, channel: Channel, user_id: str) -> None:
        self._tell("member_left", channel, user_id)

    def presence_changed(self, channel: Channel, user_id: str, kind: str,
                         presence: PondPresence, *, local: bool) -> None:
        self._tell("presence_changed", channel, user_id, kind, presence, local=local)

    def assigns_changed(self, channel: Channel, user_id: str, assigns: PondAssigns) -> None:
        self._tell("assigns_changed", channel, user_id, assigns)

    def broadcast_sent(self, channel: Channel, event: str, payload: PondMessage,
                       recipients: RecipientSpec, request_id: str, delivered: int) -> None:
        # The hot path: no listener (the default) costs one length check.
        if self._listeners:
            self._tell("broadcast_sent", channel, event, payload, recipients, request_id,
                       delivered)

    def handler_failed(self, channel: Channel, user_id: str, event: str, code: int,
                       message: str) -> None:
        self._tell("handler_failed", channel, user_id, event, code, message)

    def server_closing(self) -> None:
        self._tell("server_closing")


__all__ = ["Listeners", "PondListener"]
