"""A live channel: its members, their presence and assigns, and delivery to them."""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .contexts.outgoing import OutgoingContext
from .enums import (
    ChannelReceiver,
    LeaveReason,
    PresenceEventTypes,
    ServerActions,
    SystemEvents,
)
from .errors import PondError, conflict, not_found, unavailable
from .extensions import HISTORY
from .middleware import MiddlewareFn, run_chain
from .positions import Recovery, StreamPosition
from .presence import PresenceFeed, frames_per_turn
from .transport.base import BaseTransport, Transport, deliver
from .types import (
    AllExceptSender,
    AllUsers,
    Event,
    PondAssigns,
    PondMessage,
    PondPresence,
    RecipientSpec,
    Route,
    ToUsers,
    User,
)
from .wire import Frame, encode_event, encode_frame, encode_json, new_request_id

if TYPE_CHECKING:
    from .lobby import Lobby, OutgoingHandler

log = logging.getLogger("pondsocket.channel")

# Seconds a join into a channel with shared history waits for the channel's subscription
# before reading the history; beyond, the recovery fails rather than risk a gap.
HISTORY_SUBSCRIBE_WAIT = 5.0


class Member:
    """One user's membership of one channel."""

    __slots__ = ("assigns", "extensions", "held", "joined_at", "takes_offsets", "transport",
                 "user_id")

    def __init__(self, transport: Transport, assigns: PondAssigns) -> None:
        self.transport = transport
        self.user_id = transport.get_id()
        self.assigns = assigns
        self.joined_at = time.time()
        #: The protocol extensions granted to this member's connection: delivery groups
        #: members by the frames they take.
        self.extensions: frozenset[str] = getattr(transport, "extensions", frozenset())
        #: Whether broadcasts reach it with their offset (it negotiated ``history``): read
        #: once per recipient of every broadcast, so kept as a flag, not a set lookup.
        self.takes_offsets = HISTORY in self.extensions
        # While a recovery is read, live frames wait here (with their offset, 0 for none).
        self.held: list[tuple[Frame, int]] | None = None

    def send(self, frame: Frame, offset: int = 0) -> None:
        if self.held is not None:
            self.held.append((frame, offset))
            return
        deliver(self.transport, frame)


def _valid_presence(payload: PondMessage) -> bool:
    """Strict clients reject a presence frame without a list ``presence`` and a dict
    ``changed``: an outgoing handler must not be able to produce one."""
    presence = payload.get("presence")
    return (isinstance(presence, list) and all(isinstance(p, dict) for p in presence)
            and isinstance(payload.get("changed"), dict))


class RemoteMember:
    """A member connected to another node: what this node knows about it."""

    __slots__ = ("assigns", "node_id", "user_id")

    def __init__(self, user_id: str, node_id: str, assigns: PondAssigns) -> None:
        self.user_id = user_id
        self.node_id = node_id
        self.assigns = assigns


class Channel:
    """One channel instance (for example ``/chat/42`` of the lobby ``/chat/:room``).

    Created on the first join and closed when its last member leaves. Every operation is
    local and synchronous underneath; the coroutine methods exist so that the API is the same
    whether the state is local or, with a pub/sub, spread over several nodes.
    """

    def __init__(self, name: str, lobby: Lobby, route: Route) -> None:
        self.name = name
        self.route = route
        self._lobby = lobby
        self._members: dict[str, Member] = {}
        self._presence: dict[str, PondPresence] = {}
        self._presence_view = MappingProxyType(self._presence)
        self._replica = ChannelReplica(self)
        options = lobby.options
        self._feed = PresenceFeed(self, options.presence_coalesce_window,
                                  options.presence_coalesce_threshold)
        # Members on other nodes (user id -> their node id and assigns), with a cluster.
        self._remote: dict[str, RemoteMember] = {}
        pond = lobby.endpoint.pond
        self._listeners = pond.listeners
        # Only for what needs another node to act (evicting or removing a remote member).
        self._cluster = pond.cluster
        self._active = True
        # Joins whose handler is still running: an empty channel stays open for them.
        self._pending_joins = 0
        self.created_at = time.time()
        self.messages_received = 0
        self.messages_broadcast = 0
        self.frames_delivered = 0
        #: The offset of the broadcast being reported to the listeners (history lobbies).
        self.broadcast_offset: int | None = None

    # -- introspection -------------------------------------------------------------------

    @property
    def lobby(self) -> Lobby:
        return self._lobby

    @property
    def is_active(self) -> bool:
        return self._active

    @property
    def members(self) -> dict[str, Member]:
        """Members by user id (read-only use)."""
        return self._members

    @property
    def presence(self) -> Mapping[str, PondPresence]:
        """Tracked presence by user id, local and remote: a live read-only view, no copies
        (:meth:`get_presence` copies)."""
        return self._presence_view

    @property
    def replica(self) -> ChannelReplica:
        """What a cluster plug-in applies other nodes' changes through."""
        return self._replica

    @property
    def is_idle(self) -> bool:
        """No members and no join handler running: the channel may close."""
        return not self._members and not self._pending_joins

    def join_started(self) -> None:
        """A join handler started: the channel stays open, even empty, until it ends."""
        self._pending_joins += 1

    def join_finished(self) -> None:
        self._pending_joins -= 1

    @property
    def node_id(self) -> str:
        return self._lobby.endpoint.pond.node_id

    @property
    def remote_members(self) -> dict[str, RemoteMember]:
        """Members connected to other nodes of the cluster (read-only use)."""
        return self._remote

    async def user_count(self) -> int:
        """Members on every node."""
        return len(self._members) + len(self._remote)

    async def has_user(self, user_id: str) -> bool:
        return user_id in self._members or user_id in self._remote

    def user_ids(self) -> list[str]:
        return [*self._members, *self._remote]

    async def get_user(self, user_id: str) -> User:
        """The member ``user_id``, local or remote (``PondError`` 404 when not a member)."""
        member = self._members.get(user_id)
        if member is not None:
            return self.user_of(member)
        remote = self._remote.get(user_id)
        if remote is None:
            raise not_found(self.name, f"User {user_id} is not a member of {self.name}")
        presence = self._presence.get(user_id)
        return User(user_id, dict(remote.assigns),
                    dict(presence) if presence is not None else None)

    def user_of(self, member: Member) -> User:
        """``member`` as a :class:`User`: copies of its assigns and presence."""
        presence = self._presence.get(member.user_id)
        return User(member.user_id, dict(member.assigns),
                    dict(presence) if presence is not None else None)

    async def get_user_assign(self, user_id: str, key: str) -> Any:
        return (await self.get_user(user_id)).assigns.get(key)

    async def update_assign(self, user_id: str, key: str, value: Any) -> None:
        await self.update_assigns(user_id, {key: value})

    async def update_assigns(self, user_id: str, assigns: PondAssigns) -> None:
        member = self._member(user_id)
        member.assigns.update(assigns)
        self._listeners.assigns_changed(self, user_id, member.assigns)

    async def get_assigns(self) -> dict[str, PondAssigns]:
        """Assigns of every member, local and remote."""
        assigns = {uid: dict(m.assigns) for uid, m in self._members.items()}
        assigns.update({uid: dict(r.assigns) for uid, r in self._remote.items()})
        return assigns

    async def get_presence(self) -> dict[str, PondPresence]:
        return {uid: dict(p) for uid, p in self._presence.items()}

    def _member(self, user_id: str) -> Member:
        member = self._members.get(user_id)
        if member is None:
            raise not_found(self.name, f"User {user_id} is not a member of {self.name}")
        return member

    # -- membership ----------------------------------------------------------------------

    async def add_user(self, transport: Transport, assigns: PondAssigns | None = None) -> None:
        """Make ``transport``'s user a member (no acknowledgement is sent)."""
        self.admit(transport, assigns)

    def admit(self, transport: Transport, assigns: PondAssigns | None, *,
              ack_request_id: str | None = None) -> Member:
        """Make ``transport``'s user a member now. With ``ack_request_id`` the join's
        ``SYSTEM``/``ACKNOWLEDGE`` is queued first, so nothing about the channel overtakes it."""
        user_id = transport.get_id()
        if not self._active:
            raise unavailable(self.name, f"Channel {self.name} is closed")
        if user_id in self._members:
            raise conflict(self.name, f"User {user_id} is already a member of {self.name}")
        limit = self._lobby.options.max_members_per_channel
        if limit and len(self._members) >= limit:
            raise unavailable(self.name, f"Channel {self.name} is full: at most {limit} "
                              "members on this node (max_members_per_channel)")
        member = Member(transport, {**transport.clone_assigns(), **(assigns or {})})
        if ack_request_id is not None:
            # The acknowledgement goes first, so nothing about the channel can overtake it.
            member.send(encode_frame(ServerActions.SYSTEM, SystemEvents.ACKNOWLEDGE, self.name,
                                     ack_request_id, {}))
        self._members[user_id] = member
        self._lobby.member_added(self, member)
        self._listeners.member_joined(self, member)
        return member

    async def admit_recovering(self, transport: Transport, assigns: PondAssigns | None, *,
                               ack_request_id: str, since: StreamPosition | None) -> Member:
        """:meth:`admit` for a join: in a history channel, a client that negotiated
        ``history`` gets the recovery answer in its ``ACKNOWLEDGE``, then the broadcasts it
        missed, then live frames (held meanwhile, none twice)."""
        history = self._lobby.history
        if history is None or HISTORY not in getattr(transport, "extensions", ()):
            return self.admit(transport, assigns, ack_request_id=ack_request_id)
        member = self.admit(transport, assigns)
        member.held = []
        try:
            try:
                if history.shared and self._cluster is not None:
                    # Subscribed before reading: nothing published meanwhile falls between
                    # the two (the held frames cover it; duplicates are dropped below).
                    async with asyncio.timeout(HISTORY_SUBSCRIBE_WAIT):
                        await self._cluster.subscribed(self)
                recovery = await history.recover(self.name, since, member.user_id)
            except Exception:
                log.exception("reading the history of %s failed", self.name)
                recovery = Recovery(False, StreamPosition("", 0), reason="history unavailable")
            deliver(transport, encode_frame(ServerActions.SYSTEM, SystemEvents.ACKNOWLEDGE,
                                            self.name, ack_request_id, recovery.ack_payload()))
            last = recovery.position.offset
            outgoing = self._lobby.outgoing_route
            for entry in recovery.entries:
                route = outgoing(entry.event)
                if route is None:
                    frame: Frame | None = encode_frame(ServerActions.BROADCAST, entry.event,
                                                       self.name, entry.request_id,
                                                       entry.payload, entry.offset)
                else:
                    frame = await self._outgoing_frame(route, member, ServerActions.BROADCAST,
                                                       entry.event, entry.payload,
                                                       entry.request_id, entry.offset)
                if frame is not None:
                    deliver(transport, frame)
                last = entry.offset
        finally:
            held, member.held = member.held or [], None
        for frame, offset in held:
            if not offset or offset > last:  # the replay had it already
                deliver(transport, frame)
        return member

    async def remove_user(self, user_id: str, reason: str = LeaveReason.EXPLICIT_LEAVE) -> bool:
        """Remove a member: presence LEAVE to the others, then the lobby's leave handler.

        Returns False when ``user_id`` was not a member. The channel closes when it empties.
        """
        member = self._members.pop(user_id, None)
        if member is None:
            if user_id in self._remote and self._cluster is not None:
                self._cluster.remove_remote_user(self, user_id)
                return True
            return False
        if user_id in self._presence:
            await self._untrack(user_id)
        self._lobby.member_removed(self, member)
        self._listeners.member_left(self, user_id)
        await self._lobby.run_leave_handler(self, self._user_after_leave(member), reason)
        if self.is_idle:
            await self.close()
        return True

    def _user_after_leave(self, member: Member) -> User:
        return User(member.user_id, dict(member.assigns), None)

    async def evict_user(self, user_id: str, reason: str = "Evicted") -> bool:
        """Send ``SYSTEM``/``EVICTED`` ``{"reason"}`` to the member, then remove it.

        The connection stays open. Returns False when ``user_id`` was not a member.
        """
        member = self._members.get(user_id)
        if member is None:
            if user_id in self._remote and self._cluster is not None:
                self._cluster.evict_remote_user(self, user_id, reason)
                return True
            return False
        member.send(encode_frame(ServerActions.SYSTEM, SystemEvents.EVICTED, self.name,
                                 new_request_id(), {"reason": reason}))
        return await self.remove_user(user_id, LeaveReason.EVICTED)

    async def close(self, reason: str = "Channel closed") -> None:
        """Close the channel: remaining members are evicted with ``reason``."""
        if not self._active:
            return
        for user_id in list(self._members):
            member = self._members.pop(user_id)
            self._presence.pop(user_id, None)
            member.send(encode_frame(ServerActions.SYSTEM, SystemEvents.EVICTED, self.name,
                                     new_request_id(), {"reason": reason}))
            self._lobby.member_removed(self, member)
            self._listeners.member_left(self, user_id)
            await self._lobby.run_leave_handler(self, self._user_after_leave(member),
                                                LeaveReason.CHANNEL_CLOSED)
        self._active = False
        self._feed.close()
        self._remote.clear()
        self._lobby.channel_closed(self)
        self._listeners.channel_closed(self)

    # -- delivery ------------------------------------------------------------------------

    def _recipients(self, spec: RecipientSpec) -> Iterable[Member]:
        members = self._members
        if isinstance(spec, AllUsers):
            return list(members.values())
        if isinstance(spec, AllExceptSender):
            return [m for uid, m in members.items() if uid != spec.sender_id]
        return [members[uid] for uid in dict.fromkeys(spec.user_ids) if uid in members]

    async def _deliver(self, action: str, event_name: str, payload: PondMessage,
                       recipients: Iterable[Member], request_id: str | None = None,
                       offset: int | None = None, frame: Frame | None = None) -> int:
        """Send one event to ``recipients``; returns how many frames were queued.

        With no outgoing handler for the event the frame is encoded once and the same bytes
        are queued for everyone (twice with an ``offset``: with it for the members that
        negotiated ``history``, without for the others); otherwise each recipient's handler
        may transform or block it.
        """
        request_id = request_id or new_request_id()
        outgoing = self._lobby.outgoing_route(event_name)
        count = 0
        if outgoing is None:
            if offset is None:
                frame = frame or encode_frame(action, event_name, self.name, request_id,
                                              payload)
                for member in recipients:
                    member.send(frame)
                    count += 1
            else:
                # Each kind encoded once, and only if some recipient takes it (the publishing
                # node passes the plain one: it checked the payload before storing it).
                plain, tagged = frame, None
                for member in recipients:
                    if member.takes_offsets:
                        if tagged is None:
                            tagged = encode_frame(action, event_name, self.name, request_id,
                                                  payload, offset)
                        member.send(tagged, offset)
                    else:
                        if plain is None:
                            plain = encode_frame(action, event_name, self.name, request_id,
                                                 payload)
                        member.send(plain)
                    count += 1
        else:
            for member in recipients:
                tag = offset if offset is not None and member.takes_offsets else None
                transformed = await self._outgoing_frame(outgoing, member, action, event_name,
                                                         payload, request_id, tag)
                if transformed is not None:
                    member.send(transformed, tag or 0)
                    count += 1
        self.frames_delivered += count
        return count

    async def _outgoing_frame(self, outgoing: tuple[OutgoingHandler, tuple[MiddlewareFn, ...],
                                                    Route],
                              member: Member, action: str, event_name: str,
                              payload: PondMessage, request_id: str,
                              offset: int | None = None) -> Frame | None:
        handler, middlewares, route = outgoing
        # A copy per recipient: a handler that edits the payload in place must not change
        # what the next recipient gets.
        event = Event(action, self.name, request_id, event_name, dict(payload))
        ctx: OutgoingContext = OutgoingContext(channel=self, event=event,
                                               user=self.user_of(member),
                                               transport=member.transport, route=route)
        try:
            await run_chain(middlewares, ctx, handler)
        except Exception:
            log.exception("outgoing handler for %r on %s failed; frame not sent to %s",
                          event_name, self.name, member.user_id)
            return None
        if ctx.is_blocked():
            return None
        event.payload = ctx.get_payload()
        if action == ServerActions.PRESENCE and not _valid_presence(event.payload):
            log.error("outgoing handler for %r on %s produced an invalid presence payload; "
                      "sending the original", event_name, self.name)
            event.payload = payload
        return encode_event(event, offset)

    async def broadcast_message(self, event_name: str, payload: PondMessage,
                                recipients: RecipientSpec, *, request_id: str | None = None
                                ) -> int:
        """Send a ``BROADCAST`` frame to ``recipients``; returns the number of recipients."""
        queued_before = BaseTransport.frames_queued_total
        request_id = request_id or new_request_id()
        await self._feed.settle()  # presence changes made before it go first
        history = self._lobby.history
        offset = frame = None
        if history is not None:
            # Encoded first, so that a payload that cannot be sent is never stored; then the
            # offset, which the frames of history clients carry.
            frame = encode_frame(ServerActions.BROADCAST, event_name, self.name, request_id,
                                 payload)
            offset = await history.append(self.name, event_name, payload, recipients,
                                          request_id)
        count = await self._deliver(ServerActions.BROADCAST, event_name, payload,
                                    self._recipients(recipients), request_id, offset, frame)
        self.messages_broadcast += 1
        # Read by the cluster's broadcast_sent (synchronously next): peers deliver with it.
        self.broadcast_offset = offset
        # The cluster publishes it from here (always: members elsewhere may not be known yet).
        self._listeners.broadcast_sent(self, event_name, payload, recipients, request_id, count)
        if BaseTransport.frames_queued_total != queued_before:
            # Let the writer tasks drain: a handler broadcasting in a tight loop must not
            # overflow every member's queue before anything is written.
            await asyncio.sleep(0)
        return count

    async def broadcast(self, event_name: str, payload: PondMessage) -> None:
        """Send ``event_name`` to every member."""
        await self.broadcast_message(event_name, payload, AllUsers())

    async def broadcast_to(self, event_name: str, payload: PondMessage, *user_ids: str) -> None:
        """Send ``event_name`` to the given members (ids that are not members are skipped)."""
        await self.broadcast_message(event_name, payload, ToUsers(tuple(user_ids)))

    async def broadcast_from(self, event_name: str, payload: PondMessage,
                             exclude_user_id: str) -> None:
        """Send ``event_name`` to every member except ``exclude_user_id``."""
        await self.broadcast_message(event_name, payload, AllExceptSender(exclude_user_id))

    async def send_system(self, event_name: str, payload: PondMessage, *, request_id: str,
                          user_ids: list[str]) -> None:
        """Send a ``SYSTEM`` frame to the given members."""
        frame = encode_frame(ServerActions.SYSTEM, event_name, self.name, request_id, payload)
        for uid in user_ids:
            member = self._members.get(uid)
            if member is not None:
                member.send(frame)

    async def send_acknowledge(self, request_id: str, user_id: str) -> None:
        await self.send_system(SystemEvents.ACKNOWLEDGE, {}, request_id=request_id,
                               user_ids=[user_id])

    async def send_unauthorized(self, request_id: str, user_id: str, *, code: int,
                                message: str) -> None:
        await self.send_system(SystemEvents.UNAUTHORIZED, {"code": code, "message": message},
                               request_id=request_id, user_ids=[user_id])

    # -- presence ------------------------------------------------------------------------

    async def track_presence(self, user_id: str, data: PondPresence) -> None:
        """Start tracking a member's presence (409 if tracked already, 404 if no member)."""
        self._member(user_id)
        if user_id in self._presence:
            raise conflict(self.name, f"Presence of {user_id} is already tracked")
        await self._set_presence(user_id, data, PresenceEventTypes.JOIN)

    async def update_presence(self, user_id: str, data: PondPresence) -> None:
        """Replace a tracked member's presence (404 if not tracked)."""
        if user_id not in self._presence:
            raise not_found(self.name, f"Presence of {user_id} is not tracked")
        await self._set_presence(user_id, data, PresenceEventTypes.UPDATE)

    async def upsert_presence(self, user_id: str, data: PondPresence) -> None:
        """Track or update a member's presence."""
        self._member(user_id)
        kind = PresenceEventTypes.UPDATE if user_id in self._presence else PresenceEventTypes.JOIN
        await self._set_presence(user_id, data, kind)

    async def untrack_presence(self, user_id: str) -> None:
        """Stop tracking a member's presence (no-op when not tracked)."""
        if user_id in self._presence:
            await self._untrack(user_id)

    async def _set_presence(self, user_id: str, data: PondPresence, kind: str) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"presence must be a dict, got {type(data).__name__}")
        limit = self._lobby.options.max_presence_size
        if limit:
            size = len(encode_json(data))
            if size > limit:
                raise PondError(f"Presence too large: {size} bytes, at most {limit} "
                                "(max_presence_size)", 413, channel_name=self.name)
        if kind == PresenceEventTypes.UPDATE:
            await self._feed.before_update(user_id)
        self._presence[user_id] = dict(data)
        await self._feed.changed(user_id, kind, dict(data))
        self._listeners.presence_changed(self, user_id, kind, data, local=True)

    async def _untrack(self, user_id: str) -> None:
        last = self._presence.pop(user_id)
        await self._feed.changed(user_id, PresenceEventTypes.LEAVE, last)
        self._listeners.presence_changed(self, user_id, PresenceEventTypes.LEAVE, last,
                                         local=True)

    async def flush_presence(self) -> None:
        """Send the presence changes still within their coalescing window now."""
        await self._feed.flush()

    def presence_key(self, user_id: str) -> str | None:
        """The opaque key presence-diff clients know ``user_id``'s presence by."""
        return self._feed.key_of(user_id)

    async def send_presence(self, event_name: str, payload: PondMessage,
                            recipients: list[Member], *, transformable: bool = True) -> int:
        """Queue one ``PRESENCE`` frame to ``recipients``, a bounded number per loop turn
        (:func:`~pondsocket.presence.frames_per_turn`). Encoded once unless an outgoing
        handler applies (only to upstream frames: ``transformable``)."""
        if transformable and self._lobby.outgoing_route(event_name) is not None:
            return await self._deliver(ServerActions.PRESENCE, event_name, payload, recipients)
        frame = encode_frame(ServerActions.PRESENCE, event_name, self.name, new_request_id(),
                             payload)
        per_turn = frames_per_turn(len(frame))
        for count, member in enumerate(recipients, 1):
            member.send(frame)
            if count % per_turn == 0:
                await asyncio.sleep(0)
        self.frames_delivered += len(recipients)
        return len(recipients)

    # -- inbound -------------------------------------------------------------------------

    async def handle_incoming_event(self, event: Event, sender_id: str) -> None:
        """Run the lobby's handler for a client ``BROADCAST`` from member ``sender_id``."""
        member = self._members.get(sender_id)
        if member is None:
            raise PondError(f"Not a member of {self.name}", 403, channel_name=self.name)
        self.messages_received += 1
        await self._lobby.handle_event(self, member, event)

    def __repr__(self) -> str:
        return f"<Channel {self.name} members={len(self._members)}>"


class ChannelReplica:
    """The members other nodes hold of one channel, as a cluster plug-in reports them.

    Changes applied here reach this node's members (presence frames, messages) and are never
    published again. The cluster calls nothing else of the channel but its public API.
    """

    __slots__ = ("_channel_ref",)

    def __init__(self, channel: Channel) -> None:
        # Weak: the channel holds its replica, and a closed channel must be freed by
        # reference counting, not left in a cycle for the garbage collector.
        self._channel_ref = weakref.ref(channel)

    @property
    def _channel(self) -> Channel:
        channel = self._channel_ref()
        if channel is None:  # only reachable through a replica kept past its channel
            raise ReferenceError("the channel of this replica is gone")
        return channel

    def local_state(self) -> list[dict[str, Any]]:
        """This node's members, as a ``STATE_RESPONSE`` lists them."""
        channel = self._channel
        return [{"id": uid, "assigns": dict(m.assigns),
                 "presence": dict(channel._presence.get(uid) or {})}
                for uid, m in channel._members.items()]

    def has_node(self, node_id: str) -> bool:
        """True when a member of ``node_id`` is known here."""
        return any(r.node_id == node_id for r in self._channel._remote.values())

    async def joined(self, user_id: str, node_id: str, assigns: PondAssigns,
                     presence: PondPresence | None) -> None:
        channel = self._channel
        if user_id in channel._members:
            return
        channel._remote[user_id] = RemoteMember(user_id, node_id, dict(assigns))
        if presence:
            await self.presence_changed(user_id, node_id, presence)

    async def left(self, user_id: str) -> None:
        channel = self._channel
        if channel._remote.pop(user_id, None) is not None and user_id in channel._presence:
            await self._presence_left(user_id)

    async def presence_changed(self, user_id: str, node_id: str, data: PondPresence) -> None:
        channel = self._channel
        if user_id in channel._members:
            return
        if user_id not in channel._remote:
            channel._remote[user_id] = RemoteMember(user_id, node_id, {})
        presence = channel._presence
        kind = PresenceEventTypes.UPDATE if user_id in presence else PresenceEventTypes.JOIN
        if presence.get(user_id) == data:
            return  # a replayed snapshot: nothing changed
        if kind == PresenceEventTypes.UPDATE:
            await channel._feed.before_update(user_id)
        presence[user_id] = dict(data)
        await channel._feed.changed(user_id, kind, dict(data))
        channel._listeners.presence_changed(channel, user_id, kind, data, local=False)

    async def presence_removed(self, user_id: str) -> None:
        channel = self._channel
        if user_id in channel._remote and user_id in channel._presence:
            await self._presence_left(user_id)

    async def _presence_left(self, user_id: str) -> None:
        channel = self._channel
        last = channel._presence.pop(user_id)
        await channel._feed.changed(user_id, PresenceEventTypes.LEAVE, last)
        channel._listeners.presence_changed(channel, user_id, PresenceEventTypes.LEAVE, last,
                                            local=False)

    def assigns_replaced(self, user_id: str, assigns: PondAssigns) -> None:
        remote = self._channel._remote.get(user_id)
        if remote is not None:
            remote.assigns = dict(assigns)

    def assign_set(self, user_id: str, key: str, value: Any) -> None:
        remote = self._channel._remote.get(user_id)
        if remote is not None:
            remote.assigns[key] = value

    async def replace_node(self, node_id: str, users: list[dict[str, Any]]) -> None:
        """Apply a node's authoritative list of its members: who is gone leaves."""
        listed = {user["id"] for user in users}
        for uid in [uid for uid, r in self._channel._remote.items()
                    if r.node_id == node_id and uid not in listed]:
            await self.left(uid)
        for user in users:
            presence = user.get("presence") or None
            await self.joined(user["id"], node_id, user.get("assigns") or {}, presence)
            if presence is None:  # untracked meanwhile
                await self.presence_removed(user["id"])

    async def drop_node(self, node_id: str) -> None:
        """A node died: its members leave (presence LEAVE to local members)."""
        for uid in [uid for uid, r in self._channel._remote.items() if r.node_id == node_id]:
            await self.left(uid)

    async def message(self, event_name: str, payload: PondMessage, request_id: str,
                      from_user_id: str, descriptor: Any, offset: Any = None) -> None:
        """Deliver a broadcast published by another node to this node's recipients."""
        if descriptor == ChannelReceiver.ALL_USERS:
            spec: RecipientSpec = AllUsers()
        elif descriptor == ChannelReceiver.ALL_EXCEPT_SENDER:
            spec = AllExceptSender(from_user_id)
        elif isinstance(descriptor, list):
            spec = ToUsers(tuple(str(uid) for uid in descriptor))
        else:
            return
        channel = self._channel
        await channel._feed.settle()
        history = channel._lobby.history
        if history is None:
            offset = None
        elif history.shared:  # numbered by the publishing node in the shared stream
            offset = offset if isinstance(offset, int) and not isinstance(offset, bool) else None
        else:  # each node numbers the broadcasts it sees in its own stream (epoch)
            offset = await history.append(channel.name, event_name, payload, spec, request_id)
        await channel._deliver(ServerActions.BROADCAST, event_name, payload,
                               channel._recipients(spec), request_id, offset)


__all__ = ["Channel", "ChannelReplica", "Member", "RemoteMember", "deliver"]
