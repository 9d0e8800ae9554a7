"""A read-only view of one server: plain records, built on request from the live objects.

Tools that describe a server (the admin API, a health check, your own dashboards) read
these records instead of the core's objects, so they can neither change the server by
mistake nor depend on how it keeps its state::

    view = ServerView(pond)
    for channel in view.channels():
        print(channel.name, channel.member_count)

Every method walks the live state when called and copies what it returns; nothing is
recorded in between, so the message path pays nothing for it.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from .types import PondAssigns, PondPresence

if TYPE_CHECKING:
    from .channel import Channel
    from .server import PondSocket


@dataclass(frozen=True, slots=True)
class NodeRecord:
    """This node: its identity, sizes, counters, and the cluster peers it has heard from."""

    node_id: str
    started_at: float
    uptime_seconds: float
    endpoint_count: int
    connection_count: int
    channel_count: int
    member_count: int
    #: Connections opened and closed, messages received and broadcast, frames delivered
    #: (channels that have closed included), dropped and queued frames (open connections).
    counters: dict[str, int]
    #: Peer node id -> seconds since it was last heard from (empty without a cluster).
    peers: dict[str, float]


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    path: str
    connection_count: int
    lobbies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """One live channel of this node."""

    name: str
    endpoint: str
    pattern: str
    #: Tells this instance from a later channel of the same name (for per-channel rates).
    instance: int
    member_count: int
    remote_member_count: int
    messages_received: int
    messages_broadcast: int
    frames_delivered: int
    created_at: float


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """One member of a channel: ``node`` is ``"local"`` or the id of the node it is
    connected to; ``joined_at`` is known for local members only."""

    user_id: str
    node: str
    presence: PondPresence | None
    joined_at: float | None
    assigns: PondAssigns | None


@dataclass(frozen=True, slots=True)
class ConnectionRecord:
    """One connection registered on this node."""

    user_id: str
    endpoint: str
    transport: str
    address: str
    channels: tuple[str, ...]
    queue_depth: int
    frames_sent: int
    dropped_frames: int
    age_seconds: float
    #: Wall-clock time of the connection (comparable across the nodes of a cluster).
    connected_at: float


class ServerView:
    """Read-only records of one :class:`~pondsocket.PondSocket`."""

    def __init__(self, pond: PondSocket) -> None:
        self._pond = pond

    @property
    def node_id(self) -> str:
        return self._pond.node_id

    @property
    def started_monotonic(self) -> float:
        return self._pond.started_monotonic

    def node(self) -> NodeRecord:
        pond = self._pond
        endpoints = pond.endpoints
        channels = self._live_channels()
        cluster = pond.cluster
        return NodeRecord(
            node_id=pond.node_id, started_at=pond.started_at,
            uptime_seconds=time.monotonic() - pond.started_monotonic,
            endpoint_count=len(endpoints),
            connection_count=sum(len(e.connections) for e in endpoints),
            channel_count=len(channels),
            member_count=sum(len(c.members) for _, _, c in channels),
            counters=self._counters(), peers=dict(cluster.nodes) if cluster else {})

    def endpoints(self) -> list[EndpointRecord]:
        return [EndpointRecord(e.path, len(e.connections), tuple(lb.path for lb in e.lobbies))
                for e in self._pond.endpoints]

    def channels(self) -> list[ChannelRecord]:
        """Every live channel of this node, without its members."""
        return [self._channel_record(path, pattern, channel)
                for path, pattern, channel in self._live_channels()]

    def channel(self, name: str, endpoint: str | None = None, *, assigns: bool = False,
                local: tuple[int, int | None] | None = None
                ) -> tuple[ChannelRecord, list[MemberRecord]] | None:
        """The channel ``name`` (on ``endpoint`` when given, else the first found) and its
        members, local then remote; None when it is not live here. Members' assigns are
        copied only with ``assigns``. With ``local`` (a ``(start, stop)`` slice, ``stop``
        None for the end) only that slice of this node's members, in join order."""
        found = self._find(name, endpoint)
        if found is None:
            return None
        path, pattern, channel = found
        members = (self._members(channel, assigns) if local is None
                   else self._local_members(channel, assigns, *local))
        return self._channel_record(path, pattern, channel), members

    def member_counts(self, name: str, endpoint: str | None = None) -> dict[str, int] | None:
        """Channel ``name``'s members per node, without listing them: this node's own under
        its id, the others' as its replica knows them; None when it is not live here."""
        found = self._find(name, endpoint)
        if found is None:
            return None
        channel = found[2]
        counts = {self.node_id: len(channel.members)}
        for remote in channel.remote_members.values():
            counts[remote.node_id] = counts.get(remote.node_id, 0) + 1
        return counts

    def replica_members(self, name: str, endpoint: str | None, nodes: Collection[str], *,
                        assigns: bool = False) -> dict[str, list[MemberRecord]]:
        """The members of channel ``name`` connected to ``nodes``, as this node's replica
        knows them (``joined_at`` unknown), by node."""
        found = self._find(name, endpoint)
        out: dict[str, list[MemberRecord]] = {node: [] for node in nodes}
        if found is None or not out:
            return out
        for member in self._remote_members(found[2], assigns, out):
            out[member.node].append(member)
        return out

    def connections(self) -> list[ConnectionRecord]:
        now = time.monotonic()
        records = []
        for endpoint in self._pond.endpoints:
            for uid, connection in endpoint.connections.items():
                transport = connection.transport
                records.append(ConnectionRecord(
                    user_id=uid, endpoint=endpoint.path,
                    transport=str(transport.transport_type()), address=connection.address,
                    channels=tuple(sorted(connection.channels)),
                    queue_depth=transport.queue_depth, frames_sent=transport.frames_sent,
                    dropped_frames=transport.dropped_frames,
                    age_seconds=now - connection.opened_at,
                    connected_at=connection.connected_at))
        return records

    def health(self) -> tuple[int, dict[str, Any]]:
        """A load balancer's health check: 200 ``{"status": "ok", ...}`` while serving, 503
        ``{"status": "stopping"}`` once ``pond.close()`` has begun (so new clients go
        elsewhere)."""
        pond = self._pond
        if pond.closing:
            return 503, {"status": "stopping", "node_id": pond.node_id}
        cluster = pond.cluster
        return 200, {"status": "ok", "node_id": pond.node_id,
                     "connections": sum(len(e.connections) for e in pond.endpoints),
                     "cluster": None if cluster is None else {
                         "connected": bool(getattr(pond.pubsub, "connected", True)),
                         "nodes": len(cluster.nodes) + 1}}

    # -- walking the live objects ----------------------------------------------------------

    def _find(self, name: str, endpoint: str | None) -> tuple[str, str, Channel] | None:
        for path, pattern, channel in self._live_channels():
            if channel.name == name and (endpoint is None or endpoint == path):
                return path, pattern, channel
        return None

    def _live_channels(self) -> list[tuple[str, str, Channel]]:
        return [(endpoint.path, lobby.path, channel)
                for endpoint in self._pond.endpoints for lobby in endpoint.lobbies
                for channel in list(lobby.channels.values())]

    @staticmethod
    def _channel_record(endpoint: str, pattern: str, channel: Channel) -> ChannelRecord:
        return ChannelRecord(
            name=channel.name, endpoint=endpoint, pattern=pattern, instance=id(channel),
            member_count=len(channel.members),
            remote_member_count=len(channel.remote_members),
            messages_received=channel.messages_received,
            messages_broadcast=channel.messages_broadcast,
            frames_delivered=channel.frames_delivered, created_at=channel.created_at)

    @staticmethod
    def _members(channel: Channel, assigns: bool) -> list[MemberRecord]:
        return (ServerView._local_members(channel, assigns, 0, None)
                + ServerView._remote_members(channel, assigns))

    @staticmethod
    def _local_members(channel: Channel, assigns: bool, start: int,
                       stop: int | None) -> list[MemberRecord]:
        presence = channel.presence
        return [MemberRecord(uid, "local", _copy(presence.get(uid)), member.joined_at,
                             dict(member.assigns) if assigns else None)
                for uid, member in islice(channel.members.items(), start, stop)]

    @staticmethod
    def _remote_members(channel: Channel, assigns: bool,
                        nodes: Collection[str] | None = None) -> list[MemberRecord]:
        """The members on other nodes as the replica knows them (of ``nodes`` only, if
        given)."""
        presence = channel.presence
        return [MemberRecord(uid, remote.node_id, _copy(presence.get(uid)), None,
                             dict(remote.assigns) if assigns else None)
                for uid, remote in channel.remote_members.items()
                if nodes is None or remote.node_id in nodes]

    def _counters(self) -> dict[str, int]:
        opened = closed = received = broadcast = delivered = dropped = queued = 0
        for endpoint in self._pond.endpoints:
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
                dropped += connection.transport.dropped_frames
                queued += connection.transport.queue_depth
        return {"connections_opened": opened, "connections_closed": closed,
                "messages_received": received, "messages_broadcast": broadcast,
                "frames_delivered": delivered, "dropped_frames": dropped,
                "queued_frames": queued}


def _copy(value: Any) -> Any:
    return dict(value) if value is not None else None


__all__ = ["ChannelRecord", "ConnectionRecord", "EndpointRecord", "MemberRecord", "NodeRecord",
           "ServerView"]
