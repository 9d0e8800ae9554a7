"""The documents of the admin API, built from a live :class:`~pondsocket.PondSocket`.

Nothing here knows about HTTP: :class:`AdminInspector` turns one node's live objects into
JSON-ready dicts and the Prometheus text format, and performs the write actions. The HTTP
routes are in :mod:`pondsocket.asgi.admin`; gathering the documents of every node of a
cluster is :mod:`pondsocket.admincluster`. Everything is computed on request from the
objects themselves, so the message hot path pays nothing for it.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .channel import Channel
    from .server import PondSocket


@dataclass(slots=True)
class AdminOptions:
    """Configuration of the admin API (off unless passed to the adapter).

    ``token`` is the bearer token every request must carry; ``prefix`` is where the routes
    live; ``expose_assigns`` adds members' assigns to channel documents; ``allow_writes``
    enables the evict and close actions; ``event_queue_size`` bounds each event stream's
    backlog; ``cluster_timeout`` is how long a cluster-wide request waits for the other
    nodes' answers (a node that misses it is reported, not waited for).
    """

    token: str
    prefix: str = "/_pond/admin"
    expose_assigns: bool = False
    allow_writes: bool = False
    event_queue_size: int = 1024
    cluster_timeout: float = 1.0

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("AdminOptions.token must not be empty")
        if self.cluster_timeout <= 0:
            raise ValueError("AdminOptions.cluster_timeout must be positive")
        self.prefix = "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""


#: The counters that have per-second rates, in the order of :meth:`RateMeter.rates`.
RATE_KEYS = ("messages_received", "messages_broadcast", "frames_delivered")
NODE_RATE_KEYS = (*RATE_KEYS, "connections_opened")


class RateMeter:
    """Per-second rates of growing counters, from samples taken when documents are built.

    Nothing runs in the background: each request adds a sample (at most one per
    ``min_interval``) and the rate is the growth since the oldest sample of the last
    ``window`` seconds. Before two samples exist it is the average since ``since``.
    """

    def __init__(self, window: float = 10.0, min_interval: float = 0.5) -> None:
        self.window = window
        self.min_interval = min_interval
        self._samples: dict[Any, deque[tuple[float, tuple[int, ...]]]] = {}

    def rates(self, key: Any, values: tuple[int, ...], since: float,
              now: float) -> tuple[float, ...]:
        """The rates of ``values`` (counters of ``key``, counting from monotonic ``since``)."""
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque()
        if not samples or now - samples[-1][0] >= self.min_interval:
            samples.append((now, values))
        # Keep one sample at or before the window's start: the rate spans the whole window.
        while len(samples) > 2 and samples[1][0] <= now - self.window:
            samples.popleft()
        start, old = samples[0]
        if now - start < self.min_interval:
            start, old = since, (0,) * len(values)
        span = now - start
        if span <= 0:
            return (0.0,) * len(values)
        return tuple(round(max(0, v - o) / span, 2) for v, o in zip(values, old, strict=True))

    def keep_only(self, keys: set[Any]) -> None:
        """Forget the samples of keys not in ``keys`` (closed channels)."""
        for key in [k for k in self._samples if k not in keys]:
            del self._samples[key]


def _round(seconds: float) -> float:
    return round(seconds, 3)


#: How ``/connections`` can be ordered: the field, largest first.
CONNECTION_SORTS = ("age", "queue_depth", "dropped_frames", "frames_sent")


def sort_connections(docs: list[dict[str, Any]], sort: str,
                     limit: int | None) -> list[dict[str, Any]]:
    """``docs`` ordered by ``sort`` (oldest first for ``age``, else largest first), and the
    first ``limit`` of them."""
    if sort not in CONNECTION_SORTS:
        raise ValueError(f"sort must be one of {', '.join(CONNECTION_SORTS)}")
    key = "age_seconds" if sort == "age" else sort
    ordered = sorted(docs, key=lambda doc: doc[key], reverse=True)
    return ordered if limit is None else ordered[:limit]


class AdminInspector:
    """Builds the admin documents of one node and performs the admin actions on it.

    The documents describe this node only; :mod:`pondsocket.admincluster` gathers them from
    every node of a cluster and merges them.
    """

    def __init__(self, pond: PondSocket) -> None:
        self.pond = pond
        self._node_rates = RateMeter()
        self._channel_rates = RateMeter()

    # -- walking the live objects --------------------------------------------------------

    def iter_channels(self) -> Iterator[tuple[str, str, Channel]]:
        """Every live channel as ``(endpoint path, lobby pattern, channel)``."""
        for endpoint in self.pond.endpoints:
            for lobby in endpoint.lobbies:
                for channel in list(lobby.channels.values()):
                    yield endpoint.path, lobby.path, channel

    def find_channel(self, name: str, endpoint: str | None = None) -> Channel | None:
        """The live channel ``name`` (on ``endpoint`` when given; else the first found)."""
        for path, _, channel in self.iter_channels():
            if channel.name == name and (endpoint is None or endpoint == path):
                return channel
        return None

    def counters(self) -> dict[str, int]:
        """Node-wide counters; message counters include channels that have closed."""
        opened = closed = received = broadcast = delivered = dropped = queued = 0
        for endpoint in self.pond.endpoints:
            opened += endpoint.connections_opened
            closed += endpoint.connections_closed
            for lobby in endpoint.lobbies:
                received += lobby.closed_messages_received
                broadcast += lobby.closed_messages_broadcast
                delivered += lobby.closed_frames_delivered
                for channel in lobby.channels.values():
                    received += channel.messages_received
                    broadcast += channel.messages_broadcast
                    delivered += channel.frames_delivered
            for connection in endpoint.connections.values():
                dropped += getattr(connection.transport, "dropped_frames", 0)
                queued += getattr(connection.transport, "queue_depth", 0)
        return {"connections_opened": opened, "connections_closed": closed,
                "messages_received": received, "messages_broadcast": broadcast,
                "frames_delivered": delivered, "dropped_frames": dropped,
                "queued_frames": queued}

    # -- documents -----------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """The node: id, uptime, sizes, counters, rates and the cluster peers it knows."""
        pond = self.pond
        endpoints = pond.endpoints
        cluster = pond.cluster
        nodes = ([{"node_id": node, "last_seen_seconds": _round(age)}
                  for node, age in sorted(cluster.nodes.items())]
                 if cluster is not None else [])
        counters = self.counters()
        now = time.monotonic()
        rates = self._node_rates.rates(
            None, tuple(counters[k] for k in NODE_RATE_KEYS), pond.started_monotonic, now)
        channels = list(self.iter_channels())
        return {"node_id": pond.node_id,
                "started_at": pond.started_at,
                "uptime_seconds": _round(now - pond.started_monotonic),
                "endpoint_count": len(endpoints),
                "connection_count": sum(len(e.connections) for e in endpoints),
                "channel_count": len(channels),
                "member_count": sum(len(c.members) for _, _, c in channels),
                "counters": counters,
                "rates": dict(zip(NODE_RATE_KEYS, rates, strict=True)),
                "cluster_nodes": nodes}

    def endpoints(self) -> dict[str, Any]:
        """Each endpoint: path, connection count and lobby patterns."""
        return {"endpoints": [{"path": e.path, "connection_count": len(e.connections),
                               "lobbies": [lobby.path for lobby in e.lobbies]}
                              for e in self.pond.endpoints]}

    def channels(self) -> dict[str, Any]:
        """Every live channel with its sizes, counters and rates."""
        now = time.monotonic()
        live = list(self.iter_channels())
        docs = [self._channel_summary(path, pattern, channel, now)
                for path, pattern, channel in live]
        self._channel_rates.keep_only({id(channel) for _, _, channel in live})
        return {"channels": docs}

    def _channel_summary(self, endpoint: str, pattern: str, channel: Channel,
                         now: float) -> dict[str, Any]:
        values = (channel.messages_received, channel.messages_broadcast,
                  channel.frames_delivered)
        # The channel's age in monotonic time, for the rate before two samples exist.
        since = now - max(0.0, time.time() - channel.created_at)
        rates = self._channel_rates.rates(id(channel), values, since, now)
        return {"name": channel.name, "endpoint": endpoint, "pattern": pattern,
                "member_count": len(channel.members),
                "remote_member_count": len(channel.remote_members),
                **dict(zip(RATE_KEYS, values, strict=True)),
                "rates": dict(zip(RATE_KEYS, rates, strict=True)),
                "created_at": channel.created_at,
                "node_ids": [self.pond.node_id]}

    def channel(self, name: str, endpoint: str | None = None, *,
                expose_assigns: bool = False) -> dict[str, Any] | None:
        """One channel with its members (local and remote), or None when it does not exist.

        Local members have ``"node": "local"``; those on other nodes their node id.
        Assigns are included only with ``expose_assigns``.
        """
        channel = self.find_channel(name, endpoint)
        if channel is None:
            return None
        presence = channel.presence  # a read-only view: no copies of every member's presence
        expose = expose_assigns
        members: list[dict[str, Any]] = []
        for uid, member in channel.members.items():
            doc: dict[str, Any] = {"user_id": uid, "node": "local",
                                   "presence": presence.get(uid),
                                   "joined_at": member.joined_at}
            if expose:
                doc["assigns"] = dict(member.assigns)
            members.append(doc)
        for uid, remote in channel.remote_members.items():
            doc = {"user_id": uid, "node": remote.node_id, "presence": presence.get(uid),
                   "joined_at": None}
            if expose:
                doc["assigns"] = dict(remote.assigns)
            members.append(doc)
        lobby = channel.lobby
        return {**self._channel_summary(lobby.endpoint.path, lobby.path, channel,
                                        time.monotonic()),
                "members": members}

    def connections(self, *, sort: str = "age", limit: int | None = None) -> dict[str, Any]:
        """The connections (all, or the first ``limit`` by ``sort``, one of
        :data:`CONNECTION_SORTS`): endpoint, transport, channels, queue and delivery
        counters; ``total`` counts them all."""
        now = time.monotonic()
        docs: list[dict[str, Any]] = []
        for endpoint in self.pond.endpoints:
            for uid, connection in endpoint.connections.items():
                transport = connection.transport
                docs.append({"user_id": uid, "node": "local", "endpoint": endpoint.path,
                             "transport": str(transport.transport_type()),
                             "address": connection.address,
                             "channels": sorted(connection.channels),
                             "queue_depth": getattr(transport, "queue_depth", 0),
                             "frames_sent": getattr(transport, "frames_sent", 0),
                             "dropped_frames": getattr(transport, "dropped_frames", 0),
                             "age_seconds": _round(now - connection.opened_at)})
        return {"connections": sort_connections(docs, sort, limit), "total": len(docs)}

    def metrics_text(self) -> str:
        """This node's counters and gauges in the Prometheus text format 0.0.4."""
        return metrics_text([self.overview()])

    # -- actions -------------------------------------------------------------------------

    async def evict(self, name: str, user_id: str, reason: str = "Evicted by admin",
                    endpoint: str | None = None, *, local_only: bool = False) -> bool | None:
        """Evict ``user_id`` from channel ``name``: None when the channel does not exist,
        False when the user is not a member (with ``local_only``: not a member connected to
        this node; otherwise a member on another node is evicted through the cluster)."""
        channel = self.find_channel(name, endpoint)
        if channel is None:
            return None
        if local_only and user_id not in channel.members:
            return False
        return await channel.evict_user(user_id, reason)

    async def close(self, name: str, reason: str = "Channel closed by admin",
                    endpoint: str | None = None) -> bool:
        """Close channel ``name`` (members are evicted); False when it does not exist."""
        channel = self.find_channel(name, endpoint)
        if channel is None:
            return False
        await channel.close(reason)
        return True


_METRICS: tuple[tuple[str, str, str, Any], ...] = (
    ("pondsocket_uptime_seconds", "gauge", "Seconds since the server started.",
     lambda o: o["uptime_seconds"]),
    ("pondsocket_endpoints", "gauge", "Registered endpoints.", lambda o: o["endpoint_count"]),
    ("pondsocket_connections", "gauge", "Open connections.", lambda o: o["connection_count"]),
    ("pondsocket_channels", "gauge", "Live channels.", lambda o: o["channel_count"]),
    ("pondsocket_channel_members", "gauge", "Local channel memberships.",
     lambda o: o["member_count"]),
    ("pondsocket_queued_frames", "gauge", "Frames waiting in connection queues.",
     lambda o: o["counters"]["queued_frames"]),
    ("pondsocket_dropped_frames", "gauge",
     "Frames dropped by the open connections' full queues.",
     lambda o: o["counters"]["dropped_frames"]),
    ("pondsocket_cluster_nodes", "gauge", "Cluster peers heard from.",
     lambda o: len(o["cluster_nodes"])),
    ("pondsocket_connections_opened_total", "counter", "Connections opened.",
     lambda o: o["counters"]["connections_opened"]),
    ("pondsocket_connections_closed_total", "counter", "Connections closed.",
     lambda o: o["counters"]["connections_closed"]),
    ("pondsocket_messages_received_total", "counter", "Client broadcasts received.",
     lambda o: o["counters"]["messages_received"]),
    ("pondsocket_messages_broadcast_total", "counter", "Channel broadcasts sent.",
     lambda o: o["counters"]["messages_broadcast"]),
    ("pondsocket_frames_delivered_total", "counter", "Frames queued to channel members.",
     lambda o: o["counters"]["frames_delivered"]),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(overviews: list[dict[str, Any]], *, by_node: bool = False) -> str:
    """Overview documents in the Prometheus text exposition format 0.0.4.

    One node's overview gives unlabelled series (Prometheus adds ``instance`` when it scrapes
    each node); with ``by_node`` every series carries a ``node`` label, one per overview.
    """
    lines = []
    for name, kind, help_text, value in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for overview in overviews:
            labels = f'{{node="{_label(str(overview["node_id"]))}"}}' if by_node else ""
            lines.append(f"{name}{labels} {value(overview)}")
    return "\n".join(lines) + "\n"


_INSPECTORS: weakref.WeakKeyDictionary[Any, AdminInspector] = weakref.WeakKeyDictionary()


def inspector_of(pond: PondSocket) -> AdminInspector:
    """The one :class:`AdminInspector` of ``pond``, shared so its rate samples are too."""
    inspector = _INSPECTORS.get(pond)
    if inspector is None:
        inspector = _INSPECTORS[pond] = AdminInspector(pond)
    return inspector


__all__ = ["CONNECTION_SORTS", "RATE_KEYS", "AdminInspector", "AdminOptions", "RateMeter",
           "inspector_of", "metrics_text", "sort_connections"]
