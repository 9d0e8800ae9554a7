"""Several PondSocket processes serving the same channels, over a :class:`~pondsocket.PubSub`.

Every node keeps, for each channel it has local members in, a replica of the members on the
other nodes (their assigns and presence) and exchanges the distributed protocol v1 messages
(``USER_MESSAGE``, ``PRESENCE_UPDATE``, ``USER_JOINED`` ...). It subscribes to a channel's
topic only while the channel is open on this node (interest routing: from its first local
join, which waits for Redis to confirm the subscription, until its last local member left),
plus its node-wide topics (heartbeats, admin queries, SSE relays).
Beyond the protocol's minimum it:

* sends everything through one ordered outbox that waits out pub/sub outages (bounded; what
  does not fit is counted in ``dropped``), so a short Redis restart loses nothing it can keep;
* drops duplicates by ``messageId``;
* answers ``STATE_REQUEST`` with an authoritative ``STATE_RESPONSE``: a node's list replaces
  what others knew of it, so members missed during an outage leave or appear;
* resynchronises every channel after the pub/sub reconnects, and publishes again the recent
  broadcasts and evictions that peers may have missed meanwhile (receivers drop the copies
  they already had); these are numbered per channel, and a receiver holds a message that
  follows a gap until the missing ones come back (at most ``HOLD_SECONDS``, see
  :mod:`pondsocket.cluster.reorder`), so clients get them in the order they were sent;
* asks again for the members of a node it had declared dead as soon as it hears from it,
  and drops the members of a node that restarted under the same ``node_id`` (heartbeats
  carry a per-process ``incarnation``);
* makes the members of a node that stopped sending heartbeats leave (presence ``LEAVE``
  frames to clients) within ``heartbeat_timeout``;
* publishes ``USER_LEFT`` on every removal, evictions included, so peers never keep ghosts;
* can sign every message with HMAC-SHA256 (``Options.cluster_secret``) and drops the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..enums import DistributedMessageType as T
from ..enums import PresenceEventTypes
from ..listeners import PondListener
from ..pubsub import PubSub, PubSubClosedError, format_heartbeat_topic, format_message_topic
from ..types import AllExceptSender, PondAssigns, PondMessage, PondPresence
from .envelope import (
    ALL_NODES,
    HEARTBEAT_CHANNEL,
    MALFORMED,
    NODE_WIDE_ENDPOINTS,
    PROTOCOL,
    REPLAYED,
    VERSION,
    decode_body,
    encode_body,
    recipient_descriptor,
    sign,
    verify,
)
from .reorder import Reorderer
from .replication import CHANGES, apply_change

if TYPE_CHECKING:
    from ..channel import Channel, Member
    from ..server import PondSocket
    from ..types import RecipientSpec

log = logging.getLogger("pondsocket.cluster")

DEAD_NODES_KEPT = 1_024
CLOCK_SKEW_MS = 2_000
#: How long the first local join of a channel waits for its subscription (Redis down: the
#: join goes on, and the state exchange runs again once the subscription is confirmed).
JOIN_SUBSCRIBE_WAIT = 5.0


class ClusterNode(PondListener):
    """The cluster membership of one :class:`~pondsocket.PondSocket` (created by it when a
    ``pubsub`` is given)."""

    def __init__(self, pond: PondSocket, pubsub: PubSub) -> None:
        options = pond.options
        self.pond = pond
        self.pubsub = pubsub
        self.node_id = pond.node_id
        # Tells a restarted process from the old one when node ids are fixed (heartbeats).
        self.incarnation = uuid.uuid4().hex
        self.namespace = options.namespace
        self.prefix = options.key_prefix
        self.heartbeat_interval = options.heartbeat_interval
        self.heartbeat_timeout = options.heartbeat_timeout
        self.outbox_limit = options.cluster_outbox_limit
        self.dedupe_window = options.cluster_dedupe_window
        self.replay_max_age_ms = int(options.cluster_replay_max_age * 1000)
        secret = options.cluster_secret
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._channels: dict[tuple[str, str], Channel] = {}
        # channel topic -> the task subscribing to it (done once confirmed), while served
        self._interest: dict[str, asyncio.Task[None]] = {}
        self._unsubscribing: set[asyncio.Task[None]] = set()
        self._last_seen: dict[str, float] = {}
        self._seen_ids: OrderedDict[str, None] = OrderedDict()
        self._dead: OrderedDict[str, None] = OrderedDict()  # nodes declared dead, newest last
        self._incarnations: dict[str, str] = {}  # live node -> its process's incarnation
        self._other_apps: set[str] = set()  # peers already warned about (another app)
        self._other_shards: set[str] = set()  # ... and about listing other Redis shards
        self._outbox: deque[tuple[str, bytes]] = deque()
        # (timestamp ms, (endpoint, channel), topic, body) of recent REPLAYED messages
        self._recent: deque[tuple[int, tuple[str, str], str, bytes]] = deque(
            maxlen=options.cluster_replay_limit)
        self._heard_at = int(time.time() * 1000)  # wall-clock ms: last message from a peer
        self._wakeup: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._started: asyncio.Task[None] | None = None
        self._closed = False
        self.published = 0
        self.received = 0
        self.dropped = 0
        self.rejected = 0
        self.duplicates = 0
        # REPLAYED messages are numbered per channel (stream token, last seq) so that peers
        # can put them back in order after an outage.
        self._numbering: dict[tuple[str, str], list[Any]] = {}
        self._order: Reorderer[tuple[str, str, str], dict[str, Any]] = Reorderer()
        self._release: asyncio.TimerHandle | None = None
        self._releasing: set[asyncio.Task[None]] = set()
        #: Handlers of message types beyond the channel protocol, by type (the admin API's
        #: cluster queries, see :mod:`pondsocket.admin.cluster`): ``handler(source, message)``.
        self.extensions: dict[str, Callable[[str, dict[str, Any]], Awaitable[None]]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def node_topics(self) -> list[str]:
        """The node-wide topics this node subscribes to for as long as it runs: heartbeats,
        and the admin and SSE relay messages for every node or for this one."""
        topics = [format_heartbeat_topic(namespace=self.namespace, prefix=self.prefix)]
        for endpoint in NODE_WIDE_ENDPOINTS:
            for target in (ALL_NODES, self.node_id):
                topics.append(format_message_topic(endpoint, target, namespace=self.namespace,
                                                   prefix=self.prefix))
        return topics

    @property
    def topics(self) -> list[str]:
        """Every topic this node subscribes to now: its node-wide topics, then the topics of
        the channels it serves."""
        return [*self.node_topics(), *self._interest]

    def channel_topic(self, channel: Channel) -> str:
        """The pub/sub topic of ``channel``'s cluster traffic (with a sharded pub/sub,
        ``pubsub.client_for(topic)`` is the Redis that carries it)."""
        return format_message_topic(channel.lobby.endpoint.path.lstrip("/"), channel.name,
                                    namespace=self.namespace, prefix=self.prefix)

    async def subscribed(self, channel: Channel) -> None:
        """Return once this node's subscription to ``channel``'s topic is confirmed by the
        pub/sub (at once when it already is; waits while Redis is down). A node starting to
        serve a channel calls it before reading anything the channel's peers publish, such
        as its history. ``PubSubClosedError`` after :meth:`close`."""
        if self._closed:
            raise PubSubClosedError()
        await asyncio.shield(self._serve(channel))

    async def join_ready(self, channel: Channel) -> None:
        """What a join waits for before its handler runs: the channel's subscription (the
        first local join of a channel), at most ``JOIN_SUBSCRIBE_WAIT`` seconds."""
        task = self._serve(channel)
        if task.done():
            return
        try:
            async with asyncio.timeout(JOIN_SUBSCRIBE_WAIT):
                await asyncio.shield(task)
        except TimeoutError:
            log.warning("subscription to %s not confirmed within %.0fs: joining anyway",
                        channel.name, JOIN_SUBSCRIBE_WAIT)

    def _serve(self, channel: Channel) -> asyncio.Task[None]:
        """The task subscribing to ``channel``'s topic (started on first use)."""
        topic = self.channel_topic(channel)
        task = self._interest.get(topic)
        if task is None:
            key = (channel.lobby.endpoint.path.lstrip("/"), channel.name)
            task = self._interest[topic] = asyncio.get_running_loop().create_task(
                self._subscribe_channel(topic, key))
        return task

    async def _subscribe_channel(self, topic: str, key: tuple[str, str]) -> None:
        """Subscribe to a channel topic, retrying a pub/sub that refuses (never raises)."""
        delay = 0.05
        while not self._closed and topic in self._interest:
            try:
                await self.pubsub.subscribe(topic, self._on_message)
            except PubSubClosedError:
                return
            except Exception as exc:
                log.warning("subscribing to %s failed (%r); retrying in %.2fs", topic, exc,
                            delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            break
        channel = self._channels.get(key)
        if channel is not None:
            # A member joined before the subscription was confirmed (Redis was slow or
            # down): the answers to its STATE_REQUEST may have been missed; ask again.
            self._channel_send(channel, T.STATE_REQUEST, {"fromNode": self.node_id})

    def _stop_serving(self, channel: Channel) -> None:
        topic = self.channel_topic(channel)
        task = self._interest.pop(topic, None)
        if task is None:
            return
        task.cancel()
        # Started now, so that a subscription made again right after comes after it.
        unsubscribing = asyncio.get_running_loop().create_task(self._unsubscribe(topic))
        self._unsubscribing.add(unsubscribing)
        unsubscribing.add_done_callback(self._unsubscribing.discard)

    async def _unsubscribe(self, topic: str) -> None:
        try:
            await self.pubsub.unsubscribe(topic)
        except Exception:
            log.debug("unsubscribing from %s failed", topic, exc_info=True)

    def start(self) -> asyncio.Task[None]:
        """Subscribe and start the publisher and heartbeat tasks (idempotent)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._start())
            self._send_heartbeat(starting=True)  # the first message of this incarnation
        return self._started

    async def _start(self) -> None:
        await asyncio.gather(*(self.pubsub.subscribe(topic, self._on_message)
                               for topic in self.node_topics()))
        on_reconnect = getattr(self.pubsub, "on_reconnect", None)
        if callable(on_reconnect):
            on_reconnect(self._resync)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._publisher()), loop.create_task(self._heartbeat())]

    async def close(self) -> None:
        """Say goodbye (peers forget this node at once instead of after
        ``heartbeat_timeout``), publish what is left in the outbox, and unsubscribe."""
        self._closed = True
        if self._started is not None:
            try:
                await self._started
            except Exception:
                log.exception("cluster start failed")
            self._send_heartbeat(stopping=True)
        await self._flush(timeout=2.0)
        if self._release is not None:
            self._release.cancel()
        interest = list(self._interest.values())
        for task in [*self._tasks, *self._releasing, *interest]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._releasing, *interest,
                             *self._unsubscribing, return_exceptions=True)
        for topic in self.topics:
            with contextlib.suppress(Exception):
                await self.pubsub.unsubscribe(topic)
        self._interest.clear()

    async def _flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self._outbox and time.monotonic() < deadline and self._tasks:
            await asyncio.sleep(0.01)

    # -- outbound ------------------------------------------------------------------------

    def _numbers(self, key: tuple[str, str]) -> list[Any]:
        """The numbering of channel ``key``'s REPLAYED messages: [stream token, last seq]."""
        numbering = self._numbering.get(key)
        if numbering is None:
            numbering = self._numbering[key] = [uuid.uuid4().hex[:12], 0]
        return numbering

    def _state(self, channel: Channel) -> dict[str, Any]:
        """A ``STATE_RESPONSE``: this node's members of ``channel`` and where the numbering
        of its messages stands."""
        stream, seq = self._numbers((channel.lobby.endpoint.path.lstrip("/"), channel.name))
        return {"users": channel.replica.local_state(), "stream": stream, "seq": seq}

    def _send(self, channel_name: str, endpoint: str, kind: str, fields: dict[str, Any]) -> None:
        timestamp = int(time.time() * 1000)
        if kind in REPLAYED:
            numbering = self._numbers((endpoint, channel_name))
            numbering[1] += 1
            fields = {**fields, "stream": numbering[0], "seq": numbering[1]}
        envelope = {
            "protocol": PROTOCOL, "version": VERSION, "type": str(kind),
            "messageId": uuid.uuid4().hex, "sourceNodeId": self.node_id,
            "endpointName": endpoint, "channelName": channel_name,
            "timestamp": timestamp, **fields,
        }
        body = sign(self._secret, encode_body(envelope))
        topic = self._topic(kind, endpoint, channel_name)
        if kind in REPLAYED:
            self._recent.append((timestamp, (endpoint, channel_name), topic, body))
        self._enqueue(topic, body)

    def _enqueue(self, topic: str, body: bytes) -> None:
        if self._started is None:
            self.start()
        if len(self._outbox) >= self.outbox_limit:
            self._outbox.popleft()
            self.dropped += 1
        self._outbox.append((topic, body))
        waiter, self._wakeup = self._wakeup, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _replay(self, key: tuple[str, str], since: int) -> None:
        """Publish again this node's recent REPLAYED messages of channel ``key`` sent at or
        after ``since`` (wall-clock ms; at most ``cluster_replay_max_age`` back)."""
        since = max(since, int(time.time() * 1000) - self.replay_max_age_ms)
        for timestamp, channel_key, topic, body in list(self._recent):
            if channel_key == key and timestamp >= since:
                self._enqueue(topic, body)

    def _topic(self, kind: Any, endpoint: str, channel_name: str) -> str:
        if kind == T.NODE_HEARTBEAT:
            return format_heartbeat_topic(namespace=self.namespace, prefix=self.prefix)
        return format_message_topic(endpoint, channel_name, namespace=self.namespace,
                                    prefix=self.prefix)

    async def _publisher(self) -> None:
        """Publish the outbox in order; while the pub/sub is down, wait and retry."""
        loop = asyncio.get_running_loop()
        delay = 0.05
        while True:
            while self._outbox:
                topic, body = self._outbox[0]
                try:
                    await self.pubsub.publish(topic, body)
                except Exception as exc:
                    log.warning("cluster publish failed (%r); retrying in %.2fs", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                self._outbox.popleft()
                self.published += 1
            self._wakeup = loop.create_future()
            await self._wakeup

    def send_extension(self, kind: str, endpoint: str, target: str,
                       fields: dict[str, Any]) -> None:
        """Publish a message of an extension type (see :attr:`extensions`) through the outbox
        to node ``target`` (a node id, or :data:`ALL_NODES`), on the topic of channel
        ``target`` of pseudo-endpoint ``endpoint``; other nodes do not handle it."""
        self._send(target, endpoint, kind, fields)

    def _channel_send(self, channel: Channel, kind: str, fields: dict[str, Any]) -> None:
        self._send(channel.name, channel.lobby.endpoint.path.lstrip("/"), kind, fields)

    # -- what this node's channels do (the cluster listens to the server) ---------------

    def channel_opened(self, channel: Channel) -> None:
        self._serve(channel)

    def member_joined(self, channel: Channel, member: Member) -> None:
        key = (channel.lobby.endpoint.path.lstrip("/"), channel.name)
        if key not in self._channels:
            self._channels[key] = channel
            self._channel_send(channel, T.STATE_REQUEST, {"fromNode": self.node_id})
        self._channel_send(channel, T.USER_JOINED, {"userId": member.user_id, "presence": {},
                                                    "assigns": member.assigns})

    def member_left(self, channel: Channel, user_id: str) -> None:
        self._channel_send(channel, T.USER_LEFT, {"userId": user_id})

    def channel_closed(self, channel: Channel) -> None:
        key = (channel.lobby.endpoint.path.lstrip("/"), channel.name)
        if self._channels.get(key) is channel:
            del self._channels[key]
            self._numbering.pop(key, None)  # a new instance numbers a new stream
            self._order.forget(lambda k: k[1:] == key)
        if key not in self._channels:
            self._stop_serving(channel)

    def broadcast_sent(self, channel: Channel, event: str, payload: PondMessage,
                       recipients: RecipientSpec, request_id: str, delivered: int) -> None:
        sender = recipients.sender_id if isinstance(recipients, AllExceptSender) else "CHANNEL"
        body = {"fromUserId": sender, "event": event, "payload": payload,
                "requestId": request_id, "recipientDescriptor": recipient_descriptor(recipients)}
        if channel.broadcast_offset is not None:  # its number in a shared history stream
            body["offset"] = channel.broadcast_offset
        self._channel_send(channel, T.USER_MESSAGE, body)

    def presence_changed(self, channel: Channel, user_id: str, kind: str,
                         presence: PondPresence, *, local: bool) -> None:
        if not local:  # a peer's change: that peer published it
            return
        if kind == PresenceEventTypes.LEAVE:
            self._channel_send(channel, T.PRESENCE_REMOVED, {"userId": user_id})
        else:
            self._channel_send(channel, T.PRESENCE_UPDATE, {"userId": user_id,
                                                            "presence": presence})

    def assigns_changed(self, channel: Channel, user_id: str, assigns: PondAssigns) -> None:
        self._channel_send(channel, T.ASSIGNS_UPDATE, {"userId": user_id,
                                                       "assigns": dict(assigns)})

    # -- what this node's channels ask of the others -------------------------------------

    def evict_remote_user(self, channel: Channel, user_id: str, reason: str) -> None:
        self._channel_send(channel, T.EVICT_USER, {"userId": user_id, "reason": reason})

    def remove_remote_user(self, channel: Channel, user_id: str) -> None:
        self._channel_send(channel, T.USER_REMOVE, {"userId": user_id})

    # -- inbound -------------------------------------------------------------------------

    async def _on_message(self, topic: str, data: bytes) -> None:
        body = verify(self._secret, data)
        if body is None:
            self.rejected += 1
            return
        try:
            message = decode_body(body)
            if (message.get("protocol") != PROTOCOL or message.get("version") != VERSION
                    or message.get("sourceNodeId") == self.node_id):
                return
            message_id = message["messageId"]
            source = message["sourceNodeId"]
            if topic != self._topic(message.get("type"), message.get("endpointName", ""),
                                    message.get("channelName", "")):
                # Another namespace whose name starts with ours and ":" ("a:b" for "a").
                return
        except MALFORMED:
            self.rejected += 1
            return
        if message_id in self._seen_ids:
            self.duplicates += 1
            return
        self._seen_ids[message_id] = None
        if len(self._seen_ids) > self.dedupe_window:
            self._seen_ids.popitem(last=False)
        self.received += 1
        self._last_seen[source] = time.monotonic()
        self._heard_at = int(time.time() * 1000)
        if source in self._dead:  # it was only silent (frozen, cut off): learn its members again
            del self._dead[source]
            log.warning("node %s declared dead is back: asking for its state", source)
            for known in list(self._channels.values()):
                self._channel_send(known, T.STATE_REQUEST, {"fromNode": self.node_id})
        extension = self.extensions.get(message.get("type"))
        if extension is not None:
            if message.get("channelName") not in (ALL_NODES, self.node_id):
                return  # addressed to another node
            try:
                await extension(source, message)
            except Exception:
                log.exception("handling %s from %s failed", message.get("type"), source)
            return
        if message.get("type") == T.NODE_HEARTBEAT:
            if message.get("stopping"):
                await self._node_stopped(source)
                return
            self._check_app(source, message)
            self._check_shards(source, message)
            incarnation = message.get("incarnation")
            if isinstance(incarnation, str):
                previous = self._incarnations.get(source)
                self._incarnations[source] = incarnation
                if message.get("starting") or previous not in (None, incarnation):
                    # A new process under that id: what we hold of it is the old one's.
                    await self._node_restarted(source, ask=not message.get("starting"))
            if message.get("starting"):
                # Our last heartbeat went out before it listened: answer, so that it counts
                # us now (SSE relays, admin queries) rather than at our next heartbeat.
                self._send_heartbeat()
            return
        key = (message.get("endpointName", ""), message.get("channelName", ""))
        channel = self._channels.get(key)
        if channel is None or not channel.is_active:
            return
        seq, stream = message.get("seq"), message.get("stream")
        if message.get("type") in REPLAYED and isinstance(seq, int) and isinstance(stream, str):
            loop = asyncio.get_running_loop()
            ready = self._order.accept((source, *key), stream, seq, message, loop.time())
            self._schedule_release()
        else:
            ready = [message]
        for item in ready:
            await self._apply_logged(channel, source, item)

    async def _apply_logged(self, channel: Channel, source: str, m: dict[str, Any]) -> None:
        try:
            await self._apply(channel, source, m)
        except Exception:
            log.exception("applying %s from %s failed", m.get("type"), source)

    # -- ordering ------------------------------------------------------------------------

    def _schedule_release(self) -> None:
        """Wake up when the oldest held message has waited long enough."""
        when = self._order.next_expiry()
        if when is None or self._release is not None:
            return
        loop = asyncio.get_running_loop()
        self._release = loop.call_at(when, self._on_release_timer)

    def _on_release_timer(self) -> None:
        self._release = None
        task = asyncio.get_running_loop().create_task(self._release_expired())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_expired(self) -> None:
        """Apply, in order, the messages held too long for missing ones (those are given
        up: delivered late if they come after all)."""
        for (source, endpoint, name), items in self._order.expired(
                asyncio.get_running_loop().time()):
            log.warning("gave up waiting for messages from %s on %s before %d held ones",
                        source, name, len(items))
            await self._apply_all(source, (endpoint, name), items)
        self._schedule_release()

    async def _apply_all(self, source: str, key: tuple[str, str],
                         items: list[dict[str, Any]]) -> None:
        channel = self._channels.get(key)
        if channel is not None and channel.is_active:
            for item in items:
                await self._apply_logged(channel, source, item)

    async def _release_node(self, node: str) -> None:
        """Apply what is held from ``node``, which will send nothing more."""
        held: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for item in self._order.forget(lambda k: k[0] == node):
            held.setdefault((item.get("endpointName", ""), item.get("channelName", "")),
                            []).append(item)
        for key, items in held.items():
            await self._apply_all(node, key, items)

    async def _apply(self, channel: Channel, source: str, m: dict[str, Any]) -> None:
        kind = m.get("type")
        if kind in CHANGES:
            await apply_change(channel, source, m)
        elif kind == T.STATE_REQUEST:
            since = m.get("since")
            if isinstance(since, int):  # a peer resubscribed: what it may have missed
                self._replay((m["endpointName"], m["channelName"]), since)
            if channel.members:
                self._channel_send(channel, T.STATE_RESPONSE, self._state(channel))
        elif kind == T.STATE_RESPONSE:
            stream, seq = m.get("stream"), m.get("seq")
            if isinstance(stream, str) and isinstance(seq, int):
                # Where its numbering stands: a message after this one that comes with a
                # gap is one that follows messages we missed.
                self._order.start((source, m["endpointName"], m["channelName"]), stream,
                                  seq + 1)
            await channel.replica.replace_node(source, list(m.get("users") or []))
        elif kind == T.USER_GET_REQUEST:
            uid = m.get("userId", "")
            member = channel.members.get(uid)
            if member is not None:
                user = await channel.get_user(uid)
                self._channel_send(channel, T.USER_GET_RESPONSE, {
                    "userId": uid, "requestId": m.get("requestId", ""),
                    "assigns": user.assigns, "presence": user.presence or {}})

    # -- liveness and resynchronisation --------------------------------------------------

    def app_signature(self) -> str:
        """What this node serves, as its heartbeats say it: the endpoint paths with their
        channel patterns. Nodes of one app agree on it."""
        return ";".join(f"{e.path}[{','.join(sorted(lb.path for lb in e.lobbies))}]"
                        for e in sorted(self.pond.endpoints, key=lambda e: e.path))

    def _check_app(self, source: str, message: dict[str, Any]) -> None:
        """Warn once per peer that serves another app in this namespace (two apps sharing
        one merge their rooms silently)."""
        theirs = message.get("app")
        if (not isinstance(theirs, str) or source in self._other_apps
                or theirs == self.app_signature()):
            return
        self._other_apps.add(source)
        log.warning("node %s serves another app in namespace %r (%s; this node: %s): give "
                    "each app its own Options.namespace (pondctl demo --namespace)", source,
                    self.namespace, theirs or "nothing", self.app_signature() or "nothing")

    def _shard_layout(self) -> list[str] | None:
        """The pub/sub's shards in order, when it has a layout to agree on (RedisPubSub over
        standalone servers)."""
        layout = getattr(self.pubsub, "layout", None)
        return layout if isinstance(layout, list) else None

    def _check_shards(self, source: str, message: dict[str, Any]) -> None:
        """Warn once per peer that lists other Redis shards, or the same in another order:
        the channels it places elsewhere never reach this node, and no error says so."""
        theirs = message.get("shards")
        ours = self._shard_layout()
        if (not isinstance(theirs, list) or ours is None or source in self._other_shards
                or theirs == ours):
            return
        self._other_shards.add(source)
        log.warning("node %s lists other Redis shards (%s; this node: %s): every node must "
                    "list the same Redis servers in the same order, or the channels placed "
                    "on a shard that differs do not reach each other", source,
                    ", ".join(map(str, theirs)), ", ".join(ours))

    def _send_heartbeat(self, *, starting: bool = False, stopping: bool = False) -> None:
        fields: dict[str, Any] = {"nodeId": self.node_id, "incarnation": self.incarnation,
                                  "app": self.app_signature()}
        layout = self._shard_layout()
        if layout is not None:
            fields["shards"] = layout
        if starting:
            fields["starting"] = True
        if stopping:
            fields["stopping"] = True
        self._send(HEARTBEAT_CHANNEL, HEARTBEAT_CHANNEL, T.NODE_HEARTBEAT, fields)

    async def _node_restarted(self, node: str, *, ask: bool) -> None:
        """Drop the members of ``node``'s previous process; with ``ask``, ask for the current
        one's (it may have announced some before we noticed the restart)."""
        for channel in list(self._channels.values()):
            if channel.replica.has_node(node):
                log.warning("node %s restarted: its former members leave", node)
                await channel.replica.drop_node(node)
            if ask:
                self._channel_send(channel, T.STATE_REQUEST, {"fromNode": self.node_id})

    async def _node_stopped(self, node: str) -> None:
        """``node`` closed and said goodbye: forget it now (its members have left through
        their own leaves; any left over leave too)."""
        log.info("node %s stopped", node)
        self._forget(node)
        await self._release_node(node)
        for channel in list(self._channels.values()):
            await channel.replica.drop_node(node)

    def _forget(self, node: str) -> None:
        """Stop counting ``node`` as alive; it is asked for its state if it speaks again."""
        self._last_seen.pop(node, None)
        self._incarnations.pop(node, None)
        self._dead[node] = None
        if len(self._dead) > DEAD_NODES_KEPT:
            self._dead.popitem(last=False)

    async def _heartbeat(self) -> None:
        # Sweep eight times per timeout, so that a dead node's members leave at most
        # heartbeat_timeout * 1.125 after its last message.
        period = min(self.heartbeat_interval, self.heartbeat_timeout / 8)
        next_beat = time.monotonic() + self.heartbeat_interval
        while True:
            await asyncio.sleep(period)
            if time.monotonic() >= next_beat:
                self._send_heartbeat()
                next_beat += self.heartbeat_interval
            await self.sweep()

    async def sweep(self) -> None:
        """Make the members of nodes silent for longer than ``heartbeat_timeout`` leave.

        Skipped while this node's own pub/sub connection is down: then the silence is ours.
        """
        if not getattr(self.pubsub, "connected", True):
            return
        now = time.monotonic()
        dead = [node for node, seen in self._last_seen.items()
                if now - seen > self.heartbeat_timeout]
        for node in dead:
            self._forget(node)
            await self._release_node(node)
            log.warning("node %s is silent for over %.1fs: its members leave", node,
                        self.heartbeat_timeout)
            for channel in list(self._channels.values()):
                await channel.replica.drop_node(node)

    async def _resync(self) -> None:
        """After a pub/sub outage: ask for every channel's state and announce ours.

        Messages published during the outage may have reached Redis before a peer's
        subscription was back, and Redis keeps nothing: our recent ones are published again
        now, and ``since`` asks the peers for theirs (duplicates are dropped by id).
        """
        now = time.monotonic()
        for node in self._last_seen:  # they could not reach us either: a fresh grace period
            self._last_seen[node] = now
        since = self._heard_at - CLOCK_SKEW_MS  # from when we may have stopped hearing
        for key, channel in list(self._channels.items()):
            self._replay(key, since)
            self._channel_send(channel, T.STATE_REQUEST, {"fromNode": self.node_id,
                                                          "since": since})
            self._channel_send(channel, T.STATE_RESPONSE, self._state(channel))

    @property
    def nodes(self) -> dict[str, float]:
        """Peers heard from, with the seconds since their last message."""
        now = time.monotonic()
        return {node: now - seen for node, seen in self._last_seen.items()}


__all__ = ["CLOCK_SKEW_MS", "DEAD_NODES_KEPT", "JOIN_SUBSCRIBE_WAIT", "ClusterNode"]
