"""Publish/subscribe between nodes: the protocol, topic names, and an in-process backend.

Topics follow the distributed protocol v1:
``<prefix>:v1:<namespace>:<endpoint>:<channelName>`` for channel traffic (the endpoint
pattern without its leading ``/``) and ``<prefix>:v1:<namespace>:__heartbeat__`` for node
liveness. Subscription patterns are exact topics or end with ``*`` (prefix match).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

log = logging.getLogger("pondsocket.pubsub")

PubSubHandler = Callable[[str, bytes], Awaitable[None]]

DEFAULT_PREFIX = "pondsocket"
DEFAULT_NAMESPACE = "default"


class PubSubClosedError(RuntimeError):
    """The pub/sub was closed; no more publishing or subscribing."""

    def __init__(self, message: str = "pub/sub is closed") -> None:
        super().__init__(message)


@runtime_checkable
class PubSub(Protocol):
    """A message bus between nodes."""

    async def subscribe(self, pattern: str, handler: PubSubHandler) -> None: ...
    async def unsubscribe(self, pattern: str) -> None: ...
    async def publish(self, topic: str, data: bytes) -> None: ...
    async def close(self) -> None: ...


def _base(namespace: str, prefix: str) -> str:
    return f"{prefix}:v1:{namespace}"


def format_message_topic(endpoint: str, channel: str, *, namespace: str = DEFAULT_NAMESPACE,
                         prefix: str = DEFAULT_PREFIX) -> str:
    """The topic of one channel's traffic."""
    return f"{_base(namespace, prefix)}:{endpoint.lstrip('/')}:{channel}"


format_presence_topic = format_message_topic  # protocol v1 carries presence on the same topic


def format_topic(endpoint: str, channel: str, event: str, *, namespace: str = DEFAULT_NAMESPACE,
                 prefix: str = DEFAULT_PREFIX) -> str:
    """A per-event sub-topic of a channel topic."""
    return f"{format_message_topic(endpoint, channel, namespace=namespace, prefix=prefix)}:{event}"


def format_heartbeat_topic(*, namespace: str = DEFAULT_NAMESPACE,
                           prefix: str = DEFAULT_PREFIX) -> str:
    """The topic of node heartbeats."""
    return f"{_base(namespace, prefix)}:__heartbeat__"


def format_system_topic(event: str, *, namespace: str = DEFAULT_NAMESPACE,
                        prefix: str = DEFAULT_PREFIX) -> str:
    """A namespace-wide system topic."""
    return f"{_base(namespace, prefix)}:system:{event}"


#: Markers of the node-wide topics (heartbeats, admin queries, SSE relays), as opposed to
#: one channel's topic.
NODE_WIDE_MARKERS = (":__heartbeat__", ":__admin__:", ":__sse__:")


def is_node_wide_topic(topic: str) -> bool:
    """True for a node-wide topic (heartbeats, admin queries, SSE relays): a sharded
    pub/sub keeps these on its first shard."""
    return topic.endswith(NODE_WIDE_MARKERS[0]) or any(m in topic for m in NODE_WIDE_MARKERS[1:])


def match_topic(pattern: str, topic: str) -> bool:
    """True when ``topic`` is ``pattern``, or starts with ``pattern`` minus a final ``*``."""
    if pattern.endswith("*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


class _Subscription:
    def __init__(self, pattern: str, handler: PubSubHandler, buffer_size: int) -> None:
        self.pattern = pattern
        self.handler = handler
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(buffer_size)
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while (item := await self.queue.get()) is not None:
            try:
                await self.handler(*item)
            except Exception:
                log.exception("pub/sub handler for %s failed", self.pattern)


class LocalBus:
    """The in-process broker that :class:`LocalPubSub` clients share (like one Redis)."""

    def __init__(self) -> None:
        self.clients: set[LocalPubSub] = set()


class LocalPubSub:
    """An in-process :class:`PubSub`.

    Alone it is a loop-back bus; several ``PondSocket`` nodes in one process talk to each other
    through clients of one :class:`LocalBus`: ``LocalPubSub(bus=bus)`` per node, as each node
    would have its own Redis connection.

    Each subscription has a queue of ``buffer_size`` messages and its own task, so a slow
    subscriber never delays another. When a queue is full, ``publish`` waits for room
    (backpressure) - nothing is dropped. Messages are delivered in publish order.
    """

    def __init__(self, *, buffer_size: int = 100, bus: LocalBus | None = None) -> None:
        if buffer_size <= 0:
            raise ValueError("buffer_size must be positive")
        self._buffer_size = buffer_size
        self._subscriptions: dict[str, _Subscription] = {}
        self._closed = False
        self._bus = bus or LocalBus()
        self._bus.clients.add(self)
        self.published = 0
        self.delivered = 0

    async def subscribe(self, pattern: str, handler: PubSubHandler) -> None:
        """Deliver messages on topics matching ``pattern`` to ``handler(topic, data)``.

        Subscribing again to the same pattern replaces its handler.
        """
        if self._closed:
            raise PubSubClosedError()
        await self.unsubscribe(pattern)
        self._subscriptions[pattern] = _Subscription(pattern, handler, self._buffer_size)

    async def unsubscribe(self, pattern: str) -> None:
        subscription = self._subscriptions.pop(pattern, None)
        if subscription is not None:
            await subscription.queue.put(None)
            await subscription.task

    async def publish(self, topic: str, data: bytes) -> None:
        """Queue ``data`` for every matching subscription of every client of the bus
        (waits while a queue is full)."""
        if self._closed:
            raise PubSubClosedError()
        self.published += 1
        for client in list(self._bus.clients):
            for subscription in list(client._subscriptions.values()):
                if match_topic(subscription.pattern, topic):
                    await subscription.queue.put((topic, data))
                    client.delivered += 1

    async def close(self) -> None:
        """Deliver what is queued, then stop every subscription and leave the bus."""
        self._closed = True
        for pattern in list(self._subscriptions):
            await self.unsubscribe(pattern)
        self._bus.clients.discard(self)


__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_PREFIX", "NODE_WIDE_MARKERS", "LocalBus", "LocalPubSub",
           "PubSub", "PubSubClosedError", "PubSubHandler", "format_heartbeat_topic",
           "format_message_topic", "format_presence_topic", "format_system_topic",
           "format_topic", "is_node_wide_topic", "match_topic"]
