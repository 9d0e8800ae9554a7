r"""A tiny in-process bus of channel activity, for the admin event stream.

Each server has its own bus, :func:`events_of`\ ``(pond)``: the first call attaches an
:class:`AdminEvents` listener to the server, which turns what the core tells it into events
while at least one subscriber exists (a server nobody inspects pays nothing: the listener is
not even attached until someone asks). Each subscriber has a bounded queue; when it is full,
events are dropped and the next event delivered to that subscriber carries
``"dropped": <count>``. :data:`BUS` keeps the process-wide name of earlier releases working.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any

from ..listeners import PondListener
from ..types import PondMessage, PondPresence, RecipientSpec
from ..wire import encode_json

if TYPE_CHECKING:
    from ..channel import Channel, Member

DEFAULT_QUEUE_SIZE = 1024


def channel_filter(spec: str | None) -> Any:
    """A predicate on channel names: ``None``/``""`` matches all, ``"/chat/*"`` is a prefix,
    anything else an exact name."""
    if not spec:
        return lambda name: True
    if spec.endswith("*"):
        prefix = spec[:-1]
        return lambda name: name.startswith(prefix)
    return lambda name: name == spec


class Subscription:
    """One listener: its bounded queue, its filters, and how many events it lost."""

    def __init__(self, bus: EventBus, pond: Any, channel: str | None, maxsize: int) -> None:
        self._bus = bus
        self.pond = pond
        self.matches = channel_filter(channel)
        self.maxsize = maxsize
        self.dropped = 0
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = asyncio.Event()
        self.closed = False

    def offer(self, event: dict[str, Any]) -> None:
        """Queue ``event`` without waiting; count it as dropped when the queue is full."""
        if len(self._queue) >= self.maxsize:
            self.dropped += 1
            return
        if self.dropped:
            event = {**event, "dropped": self.dropped}
            self.dropped = 0
        self._queue.append(event)
        self._ready.set()

    async def get(self) -> dict[str, Any] | None:
        """The next event (waits for one); None once the subscription is closed and empty."""
        while not self._queue:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    def drain(self, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` queued events, without waiting."""
        queue = self._queue
        return [queue.popleft() for _ in range(min(limit, len(queue)))]

    def close(self) -> None:
        """Stop receiving events (a waiting :meth:`get` returns None)."""
        if not self.closed:
            self.closed = True
            self._bus._remove(self)
            self._ready.set()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    """Fans channel activity out to the subscriptions of the pond it happened in."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        #: True while anyone listens: the only thing the hot path looks at.
        self.active = False
        _buses.add(self)

    def subscribe(self, pond: Any, *, channel: str | None = None,
                  maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        """Listen to ``pond``'s channels (optionally only ``channel``, or a ``prefix*``)."""
        sub = Subscription(self, pond, channel, maxsize)
        self._subs.append(sub)
        self.active = True
        return sub

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        self.active = bool(self._subs)

    @property
    def subscriber_count(self) -> int:
        return len(self._subs)

    def end_all(self) -> None:
        """Close every subscription: streams end."""
        for sub in list(self._subs):
            sub.close()

    def end(self, pond: Any) -> None:
        """Close every subscription to ``pond`` (it is shutting down): streams end."""
        for sub in [sub for sub in self._subs if sub.pond is pond]:
            sub.close()

    def emit(self, kind: str, channel: Any, /, **fields: Any) -> None:
        """Record one event of ``channel`` (a :class:`~pondsocket.channel.Channel`).

        Callers check :attr:`active` first; never raises into the core.
        """
        try:
            lobby = channel.lobby
            pond = lobby.endpoint.pond
            event: dict[str, Any] | None = None
            for sub in self._subs:
                if sub.pond is not pond or not sub.matches(channel.name):
                    continue
                if event is None:
                    event = {"type": kind, "channel": channel.name,
                             "endpoint": lobby.endpoint.path, "node": pond.node_id,
                             "time": time.time(), **fields}
                sub.offer(event)
        except Exception:  # pragma: no cover - an inspector must never break a channel
            pass


def payload_size(payload: PondMessage) -> int:
    """The payload's size in bytes as JSON (only computed for the admin event stream)."""
    try:
        return len(encode_json(payload))
    except (TypeError, ValueError):
        return -1


class AdminEvents(PondListener):
    """The admin event stream's plug-in: what the core tells, as bus events, while anyone
    subscribes to :attr:`bus`."""

    def __init__(self) -> None:
        self.bus = EventBus()

    def member_joined(self, channel: Channel, member: Member) -> None:
        if self.bus.active:
            self.bus.emit("join", channel, user_id=member.user_id)

    def member_left(self, channel: Channel, user_id: str) -> None:
        if self.bus.active:
            self.bus.emit("leave", channel, user_id=user_id)

    def presence_changed(self, channel: Channel, user_id: str, kind: str,
                         presence: PondPresence, *, local: bool) -> None:
        if self.bus.active:
            self.bus.emit("presence", channel, user_id=user_id, kind=str(kind),
                          changed=dict(presence))

    def broadcast_sent(self, channel: Channel, event: str, payload: PondMessage,
                       recipients: RecipientSpec, request_id: str, delivered: int) -> None:
        if self.bus.active:
            self.bus.emit("broadcast", channel, event=event, recipients=delivered,
                          size=payload_size(payload))

    def handler_failed(self, channel: Channel, user_id: str, event: str, code: int,
                       message: str) -> None:
        if self.bus.active:
            self.bus.emit("error", channel, user_id=user_id, event=event, code=code,
                          message=message)

    def server_closing(self) -> None:
        self.bus.end_all()  # open streams end


def events_of(pond: Any) -> EventBus:
    """The admin event bus of ``pond`` (a :class:`~pondsocket.PondSocket`), attaching its
    :class:`AdminEvents` listener on first use."""
    plugin = pond.listeners.find(AdminEvents)
    if plugin is None:
        plugin = AdminEvents()
        pond.attach(plugin)
    return plugin.bus


_buses: weakref.WeakSet[EventBus] = weakref.WeakSet()


class ProcessBus:
    """:data:`BUS` of earlier releases, over every server's own bus: ``subscribe(pond, ...)``,
    ``end(pond)``, and ``active`` while any server's stream has a subscriber."""

    def subscribe(self, pond: Any, *, channel: str | None = None,
                  maxsize: int = DEFAULT_QUEUE_SIZE) -> Subscription:
        return events_of(pond).subscribe(pond, channel=channel, maxsize=maxsize)

    def end(self, pond: Any) -> None:
        events_of(pond).end(pond)

    @property
    def active(self) -> bool:
        return any(bus.active for bus in _buses)


#: Kept for code written against the process-wide bus of earlier releases.
BUS = ProcessBus()

__all__ = ["BUS", "DEFAULT_QUEUE_SIZE", "AdminEvents", "EventBus", "ProcessBus", "Subscription",
           "channel_filter", "events_of", "payload_size"]
