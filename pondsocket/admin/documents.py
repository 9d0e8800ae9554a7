"""The documents of the admin API, built from a server's read-only view.

Nothing here knows about HTTP: :class:`AdminInspector` turns one node's
:class:`~pondsocket.view.ServerView` records into JSON-ready dicts and the Prometheus text
format, and performs the write actions through the server's public API. The HTTP routes are
in :mod:`pondsocket.asgi.admin`; gathering the documents of every node of a cluster is
:mod:`pondsocket.admin.cluster`. Everything is computed on request, so the message hot path
pays nothing for it.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any

from ..view import ChannelRecord, MemberRecord, ServerView
from .metrics import metrics_text
from .rates import NODE_RATE_KEYS, RATE_KEYS, RateMeter

if TYPE_CHECKING:
    from ..server import PondSocket


def _round(seconds: float) -> float:
    return round(seconds, 3)


#: How ``/connections`` can be ordered: the field, largest first.
CONNECTION_SORTS = ("age", "queue_depth", "dropped_frames", "frames_sent")


def sort_connections(docs: list[dict[str, Any]], sort: str,
                     limit: int | None) -> list[dict[str, Any]]:
    """``docs`` ordered by ``sort`` (oldest first for ``age``, else largest first), and the
    first ``limit`` of them.

    ``age`` orders by ``connected_at``: ages are measured when each node answers, so two
    nodes' ages differ by the time between their answers, their wall clocks do not."""
    if sort not in CONNECTION_SORTS:
        raise ValueError(f"sort must be one of {', '.join(CONNECTION_SORTS)}")
    if sort == "age" and all("connected_at" in doc for doc in docs):
        ordered = sorted(docs, key=lambda doc: doc["connected_at"])
    elif sort == "age":  # a node of an earlier release among them: its ages are all we have
        ordered = sorted(docs, key=lambda doc: doc["age_seconds"], reverse=True)
    else:
        ordered = sorted(docs, key=lambda doc: doc[sort], reverse=True)
    return ordered if limit is None else ordered[:limit]


class AdminInspector:
    """Builds the admin documents of one node and performs the admin actions on it.

    The documents describe this node only, from its read-only :class:`~pondsocket.view.
    ServerView`; :mod:`pondsocket.admin.cluster` gathers them from every node of a cluster
    and merges them.
    """

    def __init__(self, pond: PondSocket) -> None:
        self.pond = pond
        self.view = ServerView(pond)
        self._node_rates = RateMeter()
        self._channel_rates = RateMeter()

    # -- documents -----------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """The node: id, uptime, sizes, counters, rates and the cluster peers it knows."""
        node = self.view.node()
        counters = node.counters
        rates = self._node_rates.rates(
            None, tuple(counters[k] for k in NODE_RATE_KEYS), self.view.started_monotonic,
            time.monotonic())
        return {"node_id": node.node_id,
                "started_at": node.started_at,
                "uptime_seconds": _round(node.uptime_seconds),
                "endpoint_count": node.endpoint_count,
                "connection_count": node.connection_count,
                "channel_count": node.channel_count,
                "member_count": node.member_count,
                "counters": counters,
                "rates": dict(zip(NODE_RATE_KEYS, rates, strict=True)),
                "cluster_nodes": [{"node_id": peer, "last_seen_seconds": _round(age)}
                                  for peer, age in sorted(node.peers.items())]}

    def endpoints(self) -> dict[str, Any]:
        """Each endpoint: path, connection count and lobby patterns."""
        return {"endpoints": [{"path": e.path, "connection_count": e.connection_count,
                               "lobbies": list(e.lobbies)} for e in self.view.endpoints()]}

    def channels(self) -> dict[str, Any]:
        """Every live channel with its sizes, counters and rates."""
        now = time.monotonic()
        live = self.view.channels()
        docs = [self._channel_summary(channel, now) for channel in live]
        self._channel_rates.keep_only({channel.instance for channel in live})
        return {"channels": docs}

    def _channel_summary(self, channel: ChannelRecord, now: float) -> dict[str, Any]:
        values = (channel.messages_received, channel.messages_broadcast,
                  channel.frames_delivered)
        # The channel's age in monotonic time, for the rate before two samples exist.
        since = now - max(0.0, time.time() - channel.created_at)
        rates = self._channel_rates.rates(channel.instance, values, since, now)
        return {"name": channel.name, "endpoint": channel.endpoint, "pattern": channel.pattern,
                "member_count": channel.member_count,
                "remote_member_count": channel.remote_member_count,
                **dict(zip(RATE_KEYS, values, strict=True)),
                "rates": dict(zip(RATE_KEYS, rates, strict=True)),
                "created_at": channel.created_at,
                "node_ids": [self.view.node_id]}

    def channel(self, name: str, endpoint: str | None = None, *,
                expose_assigns: bool = False,
                local: tuple[int, int | None] | None = None) -> dict[str, Any] | None:
        """One channel with its members (local and remote), or None when it does not exist.

        Local members have ``"node": "local"``; those on other nodes their node id.
        Assigns are included only with ``expose_assigns``. With ``local`` (a ``(start,
        stop)`` slice) only that slice of this node's own members, and ``"members_from"``
        says where it starts: a node's part of a cluster-wide page (:mod:`.paging`).
        """
        found = self.view.channel(name, endpoint, assigns=expose_assigns, local=local)
        if found is None:
            return None
        channel, members = found
        document = {**self._channel_summary(channel, time.monotonic()),
                    "members": [self._member(m, expose_assigns) for m in members]}
        if local is not None:
            document["members_from"] = local[0]
        return document

    def replica_members(self, name: str, endpoint: str | None, nodes: list[str], *,
                        expose_assigns: bool = False) -> dict[str, list[dict[str, Any]]]:
        """The members of channel ``name`` on each of ``nodes`` as this node's replica knows
        them (``joined_at`` null): what a page shows of a node that did not answer."""
        found = self.view.replica_members(name, endpoint, nodes, assigns=expose_assigns)
        return {node: [self._member(m, expose_assigns) for m in members]
                for node, members in found.items()}

    @staticmethod
    def _member(member: MemberRecord, expose_assigns: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {"user_id": member.user_id, "node": member.node,
                               "presence": member.presence, "joined_at": member.joined_at}
        if expose_assigns:
            doc["assigns"] = member.assigns
        return doc

    def connections(self, *, sort: str = "age", limit: int | None = None) -> dict[str, Any]:
        """The connections (all, or the first ``limit`` by ``sort``, one of
        :data:`CONNECTION_SORTS`): endpoint, transport, channels, queue and delivery
        counters; ``total`` counts them all."""
        docs = [{"user_id": c.user_id, "node": "local", "endpoint": c.endpoint,
                 "transport": c.transport, "address": c.address, "channels": list(c.channels),
                 "queue_depth": c.queue_depth, "frames_sent": c.frames_sent,
                 "dropped_frames": c.dropped_frames, "age_seconds": _round(c.age_seconds),
                 "connected_at": c.connected_at}
                for c in self.view.connections()]
        return {"connections": sort_connections(docs, sort, limit), "total": len(docs)}

    def metrics_text(self) -> str:
        """This node's counters and gauges in the Prometheus text format 0.0.4."""
        return metrics_text([self.overview()])

    # -- actions (through the server's public API) ----------------------------------------

    async def evict(self, name: str, user_id: str, reason: str = "Evicted by admin",
                    endpoint: str | None = None, *, local_only: bool = False) -> bool | None:
        """Evict ``user_id`` from channel ``name``: None when the channel does not exist,
        False when the user is not a member (with ``local_only``: not a member connected to
        this node; otherwise a member on another node is evicted through the cluster)."""
        channel = self.pond.find_channel(name, endpoint)
        if channel is None:
            return None
        if local_only and user_id not in channel.members:
            return False
        return await channel.evict_user(user_id, reason)

    async def close(self, name: str, reason: str = "Channel closed by admin",
                    endpoint: str | None = None) -> bool:
        """Close channel ``name`` (members are evicted); False when it does not exist."""
        channel = self.pond.find_channel(name, endpoint)
        if channel is None:
            return False
        await channel.close(reason)
        return True


_INSPECTORS: weakref.WeakKeyDictionary[Any, AdminInspector] = weakref.WeakKeyDictionary()


def inspector_of(pond: PondSocket) -> AdminInspector:
    """The one :class:`AdminInspector` of ``pond``, shared so its rate samples are too."""
    inspector = _INSPECTORS.get(pond)
    if inspector is None:
        inspector = _INSPECTORS[pond] = AdminInspector(pond)
    return inspector


__all__ = ["CONNECTION_SORTS", "AdminInspector", "inspector_of", "sort_connections"]
