"""In-process cluster nodes (PondSockets sharing a LocalBus) and clients reading their frames.

Everything waits for frames with a bound; nothing sleeps to synchronise. A *fence* is a
broadcast sent after the traffic under test: frames reach a connection in the order the
nodes published them, so once a client has the fence it has every earlier frame too.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

from pondsocket import (
    EventContext,
    JoinContext,
    LocalBus,
    LocalPubSub,
    Options,
    PondSocket,
)
from pondsocket.channel import Channel
from tests.cluster.frames import WAIT, FrameWaits, brief, is_message, names
from tests.core.helpers import accept_connection, connect, event_msg, join_msg, leave_msg

CHAN = "/chat/1"

_tokens = itertools.count(1)


async def on_join(ctx: JoinContext) -> None:
    params = ctx.join_params
    await ctx.accept(params.get("assigns") or None)
    if params.get("track", True):
        await ctx.track({"name": params.get("name", ctx.user_id)})


async def on_message(ctx: EventContext) -> None:
    await ctx.broadcast("message", ctx.payload)


async def on_from(ctx: EventContext) -> None:
    await ctx.broadcast_from("message", ctx.payload)


async def on_to(ctx: EventContext) -> None:
    await ctx.broadcast_to("message", ctx.payload, *ctx.payload["to"])


async def on_kick(ctx: EventContext) -> None:
    await ctx.evict(ctx.payload.get("reason", "kicked"), *ctx.payload["ids"])


async def on_status(ctx: EventContext) -> None:
    await ctx.update_presence(ctx.payload)


async def on_untrack(ctx: EventContext) -> None:
    await ctx.untrack()


async def on_assign(ctx: EventContext) -> None:
    await ctx.assign(ctx.payload)


class Client(FrameWaits):
    """An in-memory connection that records every frame it reads."""

    def __init__(self, node: Node, transport: Any) -> None:
        self.node = node
        self.transport = transport
        self.seen: list[dict[str, Any]] = []
        self.presence: list[str] | None = None  # the last presence list received

    @property
    def id(self) -> str:
        return self.transport.id

    @property
    def who(self) -> str:
        return f"{self.id}@{self.node.name}"

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        frame = await self.transport.receive_json(wait=timeout)
        self.seen.append(frame)
        if frame["action"] == "PRESENCE":
            self.presence = names(frame)
        return frame

    async def send(self, event: str, payload: dict[str, Any] | None = None,
                   channel: str = CHAN) -> None:
        await self.transport.push_inbound(event_msg(channel, event, payload))

    async def leave(self, channel: str = CHAN) -> dict[str, Any]:
        message = leave_msg(channel)
        await self.transport.push_inbound(message)
        frame, _ = await self.wait_for(lambda f: f["requestId"] == message["requestId"],
                                       what="EXIT_ACKNOWLEDGE")
        assert (frame["action"], frame["event"]) == ("SYSTEM", "EXIT_ACKNOWLEDGE"), frame
        return frame

    def log(self) -> str:
        return f"{self.who}: " + " | ".join(brief(f) for f in self.seen)


class Node:
    """One PondSocket of an in-process cluster: endpoint /socket, channels /chat/:room."""

    def __init__(self, bus: LocalBus | None, name: str, *, pubsub: Any = None,
                 **options: Any) -> None:
        self.name = name
        self.pubsub = pubsub if pubsub is not None else LocalPubSub(bus=bus)
        self.pond = PondSocket(pubsub=self.pubsub, options=Options(node_id=name, **options))
        self.endpoint = self.pond.create_endpoint("/socket", accept_connection)
        self.lobby = self.endpoint.create_channel("/chat/:room", on_join)
        for event, handler in (("message", on_message), ("from", on_from), ("to", on_to),
                               ("kick", on_kick), ("status", on_status),
                               ("untrack", on_untrack), ("assign", on_assign)):
            self.lobby.on_message(event, handler)
        self.clients: list[Client] = []

    @property
    def cluster(self) -> Any:
        return self.pond.cluster

    def channel(self, name: str = CHAN) -> Channel:
        return self.lobby.channels[name]

    async def join(self, uid: str, name: str | None = None, *, channel: str = CHAN,
                   assigns: dict[str, Any] | None = None, track: bool = True) -> Client:
        """Connect ``uid`` and join ``channel``; returns once the join is acknowledged."""
        transport = await connect(self.endpoint, uid)
        client = Client(self, transport)
        self.clients.append(client)
        message = join_msg(channel, {"name": name or uid, "assigns": assigns or {},
                                     "track": track})
        await transport.push_inbound(message)
        ack, _ = await client.wait_for(lambda f: f["requestId"] == message["requestId"],
                                       what="join answer")
        assert (ack["action"], ack["event"]) == ("SYSTEM", "ACKNOWLEDGE"), ack
        return client

    async def pause(self) -> None:
        """Go silent without a goodbye (as a killed or frozen process): no heartbeats, no
        publishing, no receiving."""
        cluster = self.cluster
        await cluster.start()
        for task in cluster._tasks:
            task.cancel()
        await asyncio.gather(*cluster._tasks, return_exceptions=True)
        cluster._tasks = []
        cluster._wakeup = None
        await unsubscribe_all(self)

    async def resume(self) -> None:
        """Come back after :meth:`pause` (as a process that was frozen: SIGCONT)."""
        cluster = self.cluster
        await subscribe_all(self)
        loop = asyncio.get_running_loop()
        cluster._tasks = [loop.create_task(cluster._publisher()),
                          loop.create_task(cluster._heartbeat())]


async def unsubscribe_all(node: Node) -> None:
    """Drop every subscription of the node (node-wide and channel topics)."""
    for topic in node.cluster.topics:
        await node.pubsub.unsubscribe(topic)


async def subscribe_all(node: Node) -> None:
    """Subscribe again to every topic the node's cluster wants."""
    for topic in node.cluster.topics:
        await node.pubsub.subscribe(topic, node.cluster._on_message)


async def lose_subscription(node: Node) -> None:
    """The node's pub/sub subscriptions go away (as during a Redis restart)."""
    await unsubscribe_all(node)


async def resubscribe(node: Node) -> None:
    """What RedisPubSub does when its subscriptions are back: subscribed, then the resync."""
    await subscribe_all(node)
    await node.cluster._resync()


async def fence(sender: Client, *receivers: Client) -> dict[str, list[dict[str, Any]]]:
    """``sender`` broadcasts a marker; wait until every receiver has it. Returns, per
    receiver id, the frames each read before the marker."""
    token = f"fence-{next(_tokens)}"
    await sender.send("message", {"fence": token})
    out = {}
    for client in receivers:
        _, before = await client.wait_for(is_message(fence=token), what=f"fence {token}")
        out[client.id] = before
    return out


async def wait_until(predicate: Callable[[], bool], timeout: float = WAIT,
                     what: str = "condition") -> None:
    """Poll a condition (bounded) where no frame can be awaited."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)
