"""The documents of the admin API, built from a live :class:`~pondsocket.PondSocket`.

Nothing here knows about HTTP: :class:`AdminInspector` turns the server's live objects into
JSON-ready dicts and the Prometheus text format, and performs the write actions. The HTTP
routes are in :mod:`pondsocket.asgi.admin`. Everything is computed on request from the
objects themselves, so the message hot path pays nothing for it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .hooks import NoopMetrics

if TYPE_CHECKING:
    from .channel import Channel
    from .server import PondSocket


@dataclass(slots=True)
class AdminOptions:
    """Configuration of the admin API (off unless passed to the adapter).

    ``token`` is the bearer token every request must carry; ``prefix`` is where the routes
    live; ``expose_assigns`` adds members' assigns to channel documents; ``allow_writes``
    enables the evict and close actions; ``event_queue_size`` bounds each event stream's
    backlog.
    """

    token: str
    prefix: str = "/_pond/admin"
    expose_assigns: bool = False
    allow_writes: bool = False
    event_queue_size: int = 1024

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("AdminOptions.token must not be empty")
        self.prefix = "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""


class ConnectionCounter:
    """Wraps the server's metrics collector to count opened and closed connections
    (called once per connection, never per message); every call is passed on."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.opened = 0
        self.closed = 0

    def connection_opened(self, conn_id: str, endpoint: str) -> None:
        self.opened += 1
        self._inner.connection_opened(conn_id, endpoint)

    def connection_closed(self, conn_id: str, duration_seconds: float) -> None:
        self.closed += 1
        self._inner.connection_closed(conn_id, duration_seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _NoopConnectionCounter(ConnectionCounter, NoopMetrics):
    """A counter over :class:`NoopMetrics`: still a ``NoopMetrics``, so transports keep
    their uninstrumented fast path."""


def install_counter(pond: PondSocket) -> ConnectionCounter:
    """Install (once) a :class:`ConnectionCounter` as ``pond.metrics`` and return it."""
    metrics = pond.metrics
    if isinstance(metrics, ConnectionCounter):
        return metrics
    cls = _NoopConnectionCounter if isinstance(metrics, NoopMetrics) else ConnectionCounter
    counter = cls(metrics)
    pond.metrics = counter
    return counter


def _round(seconds: float) -> float:
    return round(seconds, 3)


class AdminInspector:
    """Builds the admin documents of one server and performs the admin actions."""

    def __init__(self, pond: PondSocket, options: AdminOptions) -> None:
        self.pond = pond
        self.options = options
        self.started_at = time.time()
        self._started = time.monotonic()
        self.counter = install_counter(pond)

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
        """Server-wide counters; message counters include channels that have closed."""
        received = broadcast = delivered = dropped = queued = 0
        for endpoint in self.pond.endpoints:
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
        return {"connections_opened": self.counter.opened,
                "connections_closed": self.counter.closed,
                "messages_received": received, "messages_broadcast": broadcast,
                "frames_delivered": delivered, "dropped_frames": dropped,
                "queued_frames": queued}

    # -- documents -----------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        """The node: id, uptime, sizes, counters and the cluster peers it knows."""
        endpoints = self.pond.endpoints
        cluster = self.pond.cluster
        nodes = ([{"node_id": node, "last_seen_seconds": _round(age)}
                  for node, age in sorted(cluster.nodes.items())]
                 if cluster is not None else [])
        return {"node_id": self.pond.node_id,
                "started_at": self.started_at,
                "uptime_seconds": _round(time.monotonic() - self._started),
                "endpoint_count": len(endpoints),
                "connection_count": sum(len(e.connections) for e in endpoints),
                "channel_count": sum(1 for _ in self.iter_channels()),
                "counters": self.counters(),
                "cluster_nodes": nodes}

    def endpoints(self) -> dict[str, Any]:
        """Each endpoint: path, connection count and lobby patterns."""
        return {"endpoints": [{"path": e.path, "connection_count": len(e.connections),
                               "lobbies": [lobby.path for lobby in e.lobbies]}
                              for e in self.pond.endpoints]}

    def channels(self) -> dict[str, Any]:
        """Every live channel with its sizes and counters."""
        return {"channels": [self._channel_summary(path, pattern, channel)
                             for path, pattern, channel in self.iter_channels()]}

    @staticmethod
    def _channel_summary(endpoint: str, pattern: str, channel: Channel) -> dict[str, Any]:
        return {"name": channel.name, "endpoint": endpoint, "pattern": pattern,
                "member_count": len(channel.members),
                "remote_member_count": len(channel.remote_members),
                "messages_received": channel.messages_received,
                "messages_broadcast": channel.messages_broadcast,
                "frames_delivered": channel.frames_delivered,
                "created_at": channel.created_at}

    def channel(self, name: str, endpoint: str | None = None) -> dict[str, Any] | None:
        """One channel with its members (local and remote), or None when it does not exist.

        Assigns are included only when ``expose_assigns`` is set.
        """
        channel = self.find_channel(name, endpoint)
        if channel is None:
            return None
        presence = channel._presence  # read-only: no copies of every member's presence
        expose = self.options.expose_assigns
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
        return {**self._channel_summary(lobby.endpoint.path, lobby.path, channel),
                "members": members}

    def connections(self) -> dict[str, Any]:
        """Every connection: endpoint, transport, channels, queue and delivery counters."""
        now = time.monotonic()
        docs = []
        for endpoint in self.pond.endpoints:
            for uid, connection in endpoint.connections.items():
                transport = connection.transport
                docs.append({"user_id": uid, "endpoint": endpoint.path,
                             "transport": str(transport.transport_type()),
                             "channels": sorted(connection.channels),
                             "queue_depth": getattr(transport, "queue_depth", 0),
                             "frames_sent": getattr(transport, "frames_sent", 0),
                             "dropped_frames": getattr(transport, "dropped_frames", 0),
                             "age_seconds": _round(now - connection.opened_at)})
        return {"connections": docs}

    def metrics_text(self) -> str:
        """The counters and gauges in the Prometheus text exposition format 0.0.4."""
        overview = self.overview()
        counters = overview["counters"]
        rows = [
            ("pondsocket_uptime_seconds", "gauge", "Seconds since the admin API started.",
             overview["uptime_seconds"]),
            ("pondsocket_endpoints", "gauge", "Registered endpoints.",
             overview["endpoint_count"]),
            ("pondsocket_connections", "gauge", "Open connections.",
             overview["connection_count"]),
            ("pondsocket_channels", "gauge", "Live channels.", overview["channel_count"]),
            ("pondsocket_channel_members", "gauge", "Local channel memberships.",
             sum(len(c.members) for _, _, c in self.iter_channels())),
            ("pondsocket_queued_frames", "gauge", "Frames waiting in connection queues.",
             counters["queued_frames"]),
            ("pondsocket_dropped_frames", "gauge",
             "Frames dropped by the open connections' full queues.",
             counters["dropped_frames"]),
            ("pondsocket_cluster_nodes", "gauge", "Cluster peers heard from.",
             len(overview["cluster_nodes"])),
            ("pondsocket_connections_opened_total", "counter", "Connections opened.",
             counters["connections_opened"]),
            ("pondsocket_connections_closed_total", "counter", "Connections closed.",
             counters["connections_closed"]),
            ("pondsocket_messages_received_total", "counter", "Client broadcasts received.",
             counters["messages_received"]),
            ("pondsocket_messages_broadcast_total", "counter", "Channel broadcasts sent.",
             counters["messages_broadcast"]),
            ("pondsocket_frames_delivered_total", "counter",
             "Frames queued to channel members.", counters["frames_delivered"]),
        ]
        lines = []
        for name, kind, help_text, value in rows:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}",
                      f"{name} {value}"]
        return "\n".join(lines) + "\n"

    # -- actions -------------------------------------------------------------------------

    async def evict(self, name: str, user_id: str, reason: str = "Evicted by admin",
                    endpoint: str | None = None) -> bool | None:
        """Evict ``user_id`` from channel ``name``: None when the channel does not exist,
        False when the user is not a member."""
        channel = self.find_channel(name, endpoint)
        if channel is None:
            return None
        return await channel.evict_user(user_id, reason)

    async def close(self, name: str, reason: str = "Channel closed by admin",
                    endpoint: str | None = None) -> bool:
        """Close channel ``name`` (members are evicted); False when it does not exist."""
        channel = self.find_channel(name, endpoint)
        if channel is None:
            return False
        await channel.close(reason)
        return True


__all__ = ["AdminInspector", "AdminOptions", "ConnectionCounter", "install_counter"]
