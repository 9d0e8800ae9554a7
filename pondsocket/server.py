"""The root object: endpoints, options and server-wide services."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .admin.cluster import ClusterAdmin
from .cluster.node import ClusterNode
from .endpoint import ConnectionHandler, ConnectionMiddlewareFn, Endpoint
from .hooks import MetricsCollector, MetricsListener, NoopMetrics
from .listeners import Listeners, PondListener
from .options import Options
from .pubsub import PubSub
from .transport.base import BaseTransport, Transport
from .types import Event, Route
from .wire import Frame

if TYPE_CHECKING:
    from .channel import Channel

log = logging.getLogger("pondsocket.metrics")


@dataclass(slots=True)
class EndpointMatch:
    """An endpoint whose path pattern matched a request path, and the match."""

    endpoint: Endpoint
    route: Route


class PondSocket:
    """Holds the endpoints of one server.

    ``PondSocket`` knows nothing about HTTP: serve it with an adapter such as
    :class:`pondsocket.asgi.PondASGIApp`, or drive it in-process with
    :class:`~pondsocket.InMemoryTransport`.
    """

    def __init__(self, *, options: Options | None = None, pubsub: PubSub | None = None) -> None:
        self._options = options or Options()
        self._pubsub = pubsub
        self._endpoints: list[Endpoint] = []
        self.node_id = self._options.node_id or uuid.uuid4().hex
        #: Wall-clock and monotonic time of creation (the admin API's uptime).
        self.started_at = time.time()
        self.started_monotonic = time.monotonic()
        #: True once :meth:`close` has begun (health checks then answer 503).
        self.closing = False
        #: What the core tells of its lifecycle goes to these (see :meth:`attach`).
        self.listeners = Listeners()
        self.cluster: ClusterNode | None = None
        #: Answers (and asks) the other nodes' admin queries, with a cluster.
        self.cluster_admin: ClusterAdmin | None = None
        if pubsub is not None:
            self._join_cluster(pubsub)
        hooks = self._options.hooks
        configured = hooks.metrics if hooks is not None else None
        self.metrics: MetricsCollector = configured if configured is not None else NoopMetrics()
        if not isinstance(self.metrics, NoopMetrics):
            self.attach(MetricsListener(self.metrics))

    def _join_cluster(self, pubsub: PubSub) -> None:
        self._pubsub = pubsub
        self.cluster = ClusterNode(self, pubsub)
        self.listeners.attach(self.cluster, first=True)  # the cluster hears everything first
        self.cluster_admin = ClusterAdmin(self.cluster)

    def use_pubsub(self, pubsub: PubSub) -> None:
        """Make this server a cluster node over ``pubsub``, as if it had been given to the
        constructor: for tools that serve an application defined without one (``pondctl
        serve --redis``). Call it before serving (before wrapping it in an ASGI app);
        ``RuntimeError`` when it already has a pub/sub or has started serving channels."""
        if self._pubsub is not None:
            raise RuntimeError("this PondSocket already has a pub/sub")
        if any(lobby.channels for endpoint in self._endpoints for lobby in endpoint.lobbies):
            raise RuntimeError("use_pubsub() must come before the server has channels")
        self._join_cluster(pubsub)

    @property
    def options(self) -> Options:
        return self._options

    def attach(self, listener: PondListener) -> None:
        """Tell ``listener`` what happens in this server from now on (connections, channels,
        members, presence, broadcasts). Listeners are told in the order they were attached;
        the cluster (with a ``pubsub``) is the first."""
        self.listeners.attach(listener)

    def detach(self, listener: PondListener) -> None:
        self.listeners.detach(listener)

    @property
    def pubsub(self) -> PubSub | None:
        return self._pubsub

    @property
    def endpoints(self) -> list[Endpoint]:
        return list(self._endpoints)

    def create_endpoint(self, path: str, handler: ConnectionHandler,
                        *middlewares: ConnectionMiddlewareFn) -> Endpoint:
        """Register an endpoint at ``path``; ``handler`` accepts or declines each connection."""
        if any(endpoint.path == path for endpoint in self._endpoints):
            raise ValueError(f"endpoint {path!r} is already registered")
        endpoint = Endpoint(self, path, handler, middlewares)
        self._endpoints.append(endpoint)
        return endpoint

    def match_endpoint(self, path: str) -> EndpointMatch | None:
        """The first endpoint (in registration order) whose pattern matches ``path``."""
        for endpoint in self._endpoints:
            route = endpoint.pattern.match(path)
            if route is not None:
                return EndpointMatch(endpoint, route)
        return None

    def find_channel(self, name: str, endpoint: str | None = None) -> Channel | None:
        """The live channel ``name`` (on the endpoint at path ``endpoint`` when given, else
        the first found), or None."""
        for candidate in self._endpoints:
            if endpoint is not None and candidate.path != endpoint:
                continue
            for lobby in candidate.lobbies:
                channel = lobby.channels.get(name)
                if channel is not None:
                    return channel
        return None

    async def find_transport(self, user_id: str) -> Transport | None:
        """The transport of connection ``user_id`` on any endpoint."""
        for endpoint in self._endpoints:
            transport = await endpoint.get_transport(user_id)
            if transport is not None:
                return transport
        return None

    async def start(self) -> None:
        """Join the cluster now (adapters call it at start-up; otherwise the first channel
        activity does). Without a pub/sub there is nothing to start."""
        if self.cluster is not None:
            await self.cluster.start()

    async def close(self) -> None:
        """Close every endpoint (and their connections and channels), leave the cluster,
        then close the pub/sub. Open admin event streams end first."""
        self.closing = True
        self.listeners.server_closing()
        for endpoint in self._endpoints:
            await endpoint.close()
        if self.cluster_admin is not None:
            await self.cluster_admin.close()
        if self.cluster is not None:
            await self.cluster.close()
        if self._pubsub is not None:
            await self._pubsub.close()

    def instrument(self, transport: BaseTransport) -> None:
        """Wire per-frame metrics into a transport, only when metrics are configured.

        A collector that raises is logged and never breaks the connection.
        """
        metrics = self.metrics
        if isinstance(metrics, NoopMetrics):
            return

        def sent(t: BaseTransport, frame: Frame) -> None:
            _safely(metrics.message_sent, t.id, frame.channel, frame.event, len(frame.data))

        def received(t: BaseTransport, event: Event, size: int) -> None:
            _safely(metrics.message_received, t.id, event.channel_name, event.event, size)

        def backlog(t: BaseTransport, depth: int) -> None:
            _safely(metrics.queue_depth, f"connection:{t.id}", depth)

        transport.instrument(frame_sent=sent, frame_received=received, backlog=backlog)


def _safely(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception:
        log.exception("metrics collector failed in %s", getattr(call, "__name__", call))


__all__ = ["EndpointMatch", "PondSocket"]
