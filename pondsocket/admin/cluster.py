"""The admin API across a cluster: every node answers the others' admin queries over the
pub/sub, so the admin API of any one node shows (and acts on) all of them.

The messages use the distributed protocol v1 envelope (signed when ``cluster_secret`` is
set) with types of their own, on the topic ``<prefix>:v1:<namespace>:__admin__:<target>``,
where ``<target>`` is a node id or ``__all__``:

* ``ADMIN_QUERY {queryId, query, args}`` to all: each node answers
  ``ADMIN_REPLY {queryId, document}`` (or ``{queryId, error}``) to the asking node. Queries
  are the documents of :class:`~pondsocket.admin.AdminInspector` (``overview``,
  ``endpoints``, ``channels``, ``channel``, ``connections``) and the actions ``evict`` and
  ``close``, which each node performs on its own connections and channel instance.
* ``ADMIN_WATCH {watchId, channel, ttl}`` to all, renewed every ``ttl / 3``: each node
  forwards its channel activity (filtered by ``channel``) to the watching node in
  ``ADMIN_EVENTS {watchId, events}`` batches, the first being a ``subscribed`` event, until
  ``ADMIN_UNWATCH`` or the ttl runs out (so a watcher that died stops costing anything
  within ``ttl``).

Any node of the cluster answers, whether or not it serves the admin API itself: the pub/sub
is the cluster's trust boundary (peers already exchange members, assigns and messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..cluster.envelope import ALL_NODES
from .documents import inspector_of
from .events import DEFAULT_QUEUE_SIZE, Subscription, events_of
from .merge import NodeAnswer

if TYPE_CHECKING:
    from ..cluster.node import ClusterNode
    from ..server import PondSocket

log = logging.getLogger("pondsocket.admin")

ADMIN_ENDPOINT = "__admin__"
QUERY, REPLY = "ADMIN_QUERY", "ADMIN_REPLY"
WATCH, UNWATCH, EVENTS = "ADMIN_WATCH", "ADMIN_UNWATCH", "ADMIN_EVENTS"
WATCH_TTL = 6.0
MAX_BATCH = 256


@dataclass(slots=True)
class _Pending:
    """A query waiting for the peers' replies."""

    expected: set[str]
    replies: dict[str, NodeAnswer] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, answer: NodeAnswer) -> None:
        self.replies[answer.node_id] = answer
        if self.expected <= self.replies.keys():
            self.complete.set()


@dataclass(slots=True)
class _Forwarder:
    """A peer's watch of this node's activity: a bus subscription and its forwarding task."""

    watcher: str
    subscription: Subscription
    expires: float
    task: asyncio.Task[None] | None = None


class ClusterWatch:
    """An open cluster-wide event stream (see :meth:`ClusterAdmin.watch`); close it when done."""

    def __init__(self, admin: ClusterAdmin, watch_id: str, renewal: asyncio.Task[None]) -> None:
        self._admin = admin
        self.watch_id = watch_id
        self._renewal = renewal

    def close(self) -> None:
        """Stop the other nodes' forwarding."""
        self._renewal.cancel()
        if self._admin._streams.pop(self.watch_id, None) is not None:
            self._admin._send(UNWATCH, ALL_NODES, {"watchId": self.watch_id})

    def __enter__(self) -> ClusterWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def own_slice(slices: Any, node_id: str) -> tuple[int, int | None] | None:
    """This node's part of a page, from a ``channel`` query's ``slices`` argument
    (``{node_id: [start, stop]}``): None without the argument (every member: a lone node,
    or a node of an older version asking), an empty slice when the page needs none of
    this node's members."""
    if not isinstance(slices, dict):
        return None
    part = slices.get(node_id)
    if (isinstance(part, list) and len(part) == 2
            and all(isinstance(n, int) and not isinstance(n, bool) for n in part)
            and 0 <= part[0] <= part[1]):
        return part[0], part[1]
    return 0, 0


async def answer_query(pond: PondSocket, query: str, args: dict[str, Any]) -> NodeAnswer:
    """``pond``'s own answer to an admin query: a document of its
    :class:`~pondsocket.admin.AdminInspector` (``overview``, ``endpoints``, ``channels``,
    ``channel``, ``connections``) or the result of an action (``evict``, ``close``) performed
    on this node only."""
    node = pond.node_id
    inspector = inspector_of(pond)
    try:
        if query == "overview":
            document: Any = inspector.overview()
            document["channel_keys"] = [[channel.endpoint, channel.name]
                                        for channel in inspector.view.channels()]
        elif query == "endpoints":
            document = inspector.endpoints()
        elif query == "channels":
            document = inspector.channels()
        elif query == "connections":
            limit = args.get("limit")
            document = inspector.connections(sort=str(args.get("sort") or "age"),
                                             limit=limit if isinstance(limit, int) else None)
        elif query == "channel":
            document = inspector.channel(str(args["name"]), args.get("endpoint"),
                                         expose_assigns=bool(args.get("expose_assigns")),
                                         local=own_slice(args.get("slices"), node))
        elif query == "evict":
            document = {"evicted": await inspector.evict(
                str(args["name"]), str(args["user_id"]), str(args["reason"]),
                args.get("endpoint"), local_only=True)}
        elif query == "close":
            document = {"closed": await inspector.close(
                str(args["name"]), str(args["reason"]), args.get("endpoint"))}
        else:
            return NodeAnswer(node, error=f"unknown admin query {query!r}")
    except KeyError as exc:
        return NodeAnswer(node, error=f"admin query {query!r} needs {exc}")
    except ValueError as exc:
        return NodeAnswer(node, error=f"admin query {query!r}: {exc}")
    return NodeAnswer(node, document)


class ClusterAdmin:
    """Asks every node of a cluster for admin documents and answers their queries.

    Created by :class:`~pondsocket.PondSocket` for its :class:`~pondsocket.cluster.
    ClusterNode`; the admin HTTP routes use :meth:`ask` and :meth:`watch`.
    """

    def __init__(self, cluster: ClusterNode) -> None:
        self.cluster = cluster
        self.pond = cluster.pond
        self._pending: dict[str, _Pending] = {}
        self._forwarders: dict[str, _Forwarder] = {}  # other nodes' watches of us
        self._streams: dict[str, Subscription] = {}  # our streams, fed by the other nodes
        cluster.extensions.update({QUERY: self._on_query, REPLY: self._on_reply,
                                   WATCH: self._on_watch, UNWATCH: self._on_unwatch,
                                   EVENTS: self._on_events})

    def _send(self, kind: str, target: str, fields: dict[str, Any]) -> None:
        self.cluster.send_extension(kind, ADMIN_ENDPOINT, target, fields)

    # -- asking --------------------------------------------------------------------------

    async def ask(self, query: str, args: dict[str, Any] | None = None, *,
                  timeout: float = 1.0) -> list[NodeAnswer]:
        """This node's answer to ``query``, then every live peer's, sorted by node id.

        A peer that does not answer within ``timeout`` seconds gets an answer with an
        ``error``; a peer that is not yet known but answers in time is included.
        """
        args = args or {}
        answers = [await answer_query(self.pond, query, args)]
        peers = set(self.cluster.nodes)
        if not peers:
            return answers
        query_id = uuid.uuid4().hex
        pending = self._pending[query_id] = _Pending(peers)
        try:
            self._send(QUERY, ALL_NODES, {"queryId": query_id, "query": query, "args": args})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await pending.complete.wait()
        finally:
            del self._pending[query_id]
        replies = dict(pending.replies)
        for node in peers - replies.keys():
            replies[node] = NodeAnswer(node, error=f"no answer within {timeout:g} s")
        return answers + [replies[node] for node in sorted(replies)]

    async def _on_query(self, source: str, message: dict[str, Any]) -> None:
        query, args = message.get("query"), message.get("args")
        if not isinstance(query, str) or not isinstance(args, dict):
            return
        answer = await answer_query(self.pond, query, args)
        fields: dict[str, Any] = {"queryId": message.get("queryId")}
        if answer.ok:
            fields["document"] = answer.document
        else:
            fields["error"] = answer.error
        self._send(REPLY, source, fields)

    async def _on_reply(self, source: str, message: dict[str, Any]) -> None:
        pending = self._pending.get(message.get("queryId", ""))
        if pending is None:
            return
        error, document = message.get("error"), message.get("document")
        if error is None and document is not None and not isinstance(document, dict):
            error = "a malformed answer"  # another version or implementation
        pending.add(NodeAnswer(source, document if error is None else None,
                               str(error) if error is not None else None))

    # -- watching ------------------------------------------------------------------------

    def watch(self, subscription: Subscription, channel: str | None = None) -> ClusterWatch:
        """Feed ``subscription`` (this node's own events) with the other nodes' events too,
        filtered by ``channel`` (as :func:`~pondsocket.adminbus.channel_filter`)."""
        watch_id = uuid.uuid4().hex
        self._streams[watch_id] = subscription
        fields = {"watchId": watch_id, "channel": channel, "ttl": WATCH_TTL}
        self._send(WATCH, ALL_NODES, fields)
        renewal = asyncio.get_running_loop().create_task(self._renew(fields))
        return ClusterWatch(self, watch_id, renewal)

    async def _renew(self, fields: dict[str, Any]) -> None:
        while True:  # nodes that join later learn of the watch at the next renewal
            await asyncio.sleep(WATCH_TTL / 3)
            self._send(WATCH, ALL_NODES, fields)

    async def _on_watch(self, source: str, message: dict[str, Any]) -> None:
        watch_id, ttl = message.get("watchId"), message.get("ttl")
        if not isinstance(watch_id, str) or not isinstance(ttl, int | float) or ttl <= 0:
            return
        expires = time.monotonic() + min(float(ttl), 60.0)
        forwarder = self._forwarders.get(watch_id)
        if forwarder is not None:
            forwarder.expires = expires
            return
        channel = message.get("channel")
        channel = channel if isinstance(channel, str) and channel else None
        subscription = events_of(self.pond).subscribe(self.pond, maxsize=DEFAULT_QUEUE_SIZE,
                                                      channel=channel)
        forwarder = self._forwarders[watch_id] = _Forwarder(source, subscription, expires)
        forwarder.task = asyncio.get_running_loop().create_task(
            self._forward(watch_id, forwarder, channel))

    async def _on_unwatch(self, source: str, message: dict[str, Any]) -> None:
        forwarder = self._forwarders.get(message.get("watchId", ""))
        if forwarder is not None and forwarder.watcher == source:
            forwarder.subscription.close()  # the forwarding task ends

    async def _forward(self, watch_id: str, forwarder: _Forwarder, channel: str | None) -> None:
        subscription = forwarder.subscription
        # Tells the watcher (and its client) that this node's activity now flows to it.
        hello = {"type": "subscribed", "channel": channel or "*", "node": self.pond.node_id,
                 "time": time.time()}
        self._send(EVENTS, forwarder.watcher, {"watchId": watch_id, "events": [hello]})
        try:
            while (remaining := forwarder.expires - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(remaining):
                        event = await subscription.get()
                except TimeoutError:
                    continue  # renewed meanwhile, or expired: the loop condition tells
                if event is None:
                    return  # unwatched, or this node is closing
                events = [event, *subscription.drain(MAX_BATCH - 1)]
                self._send(EVENTS, forwarder.watcher, {"watchId": watch_id, "events": events})
        finally:
            subscription.close()
            self._forwarders.pop(watch_id, None)

    async def _on_events(self, source: str, message: dict[str, Any]) -> None:
        subscription = self._streams.get(message.get("watchId", ""))
        events = message.get("events")
        if subscription is None or not isinstance(events, list):
            return
        for event in events:
            if isinstance(event, dict):
                subscription.offer(event)

    async def close(self) -> None:
        """Stop forwarding to other nodes' watches."""
        for forwarder in list(self._forwarders.values()):
            forwarder.subscription.close()
        tasks = [f.task for f in self._forwarders.values() if f.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["ADMIN_ENDPOINT", "ClusterAdmin", "ClusterWatch", "answer_query"]
