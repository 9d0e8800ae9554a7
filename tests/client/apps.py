"""A test server with handles the test can pull: refuse connections from now on, hold a
join or a reply until released, reply late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pondsocket import ConnectionContext, EventContext, JoinContext, PondSocket, forbidden
from pondsocket.asgi import PondASGIApp


@dataclass
class Controls:
    """What a test can change or wait for while the server runs."""

    refuse: bool = False
    unavailable: bool = False
    deny_rejoin: bool = False
    slow_left: asyncio.Event = field(default_factory=asyncio.Event)
    release_join: asyncio.Event = field(default_factory=asyncio.Event)
    release_reply: asyncio.Event = field(default_factory=asyncio.Event)
    join_started: asyncio.Event = field(default_factory=asyncio.Event)
    reply_started: asyncio.Event = field(default_factory=asyncio.Event)
    app: Any = None

    @property
    def pond(self) -> PondSocket:
        return self.app.pond

    async def close_all(self) -> None:
        """Close every connection of the endpoint (the clients see the connection drop)."""
        endpoint = self.pond.endpoints[0]
        for user_id in list(endpoint.connections):
            await endpoint.close_connection(user_id)


def build_lab() -> Controls:
    """``/api/socket`` (token ``demo``; refused with 401 once ``controls.refuse``):

    * ``/room/:id``: join params ``{"deny": true}`` -> declined 403 "denied"; members are
      tracked as ``{"name": <join param name or "anon">}``.
    * ``/slow/:id``: the join waits for ``controls.release_join``; a leave sets
      ``controls.slow_left``.
    * ``controls.unavailable``: connections are refused with 503 (clients keep retrying);
      ``controls.deny_rejoin``: joins of ``/room/:id`` are declined 403.
    * events on ``/room/:id``: ``echo`` broadcasts its payload, ``ping`` replies ``pong``,
      ``late`` replies ``late-pong`` once ``controls.release_reply`` is set, ``forbidden``
      raises 403, ``boom`` raises an unexpected exception.
    """
    controls = Controls()
    pond = PondSocket()

    async def authenticate(ctx: ConnectionContext) -> None:
        if controls.unavailable:
            ctx.decline(503, "Try again later")
            return
        if controls.refuse or ctx.query.get("token") != "demo":
            ctx.decline(401, "Invalid token")
            return
        ctx.accept(name=ctx.query.get("name", "anon"))

    async def join_room(ctx: JoinContext) -> None:
        if ctx.join_params.get("deny") is True:
            await ctx.decline(403, "denied")
            return
        if controls.deny_rejoin:
            await ctx.decline(403, "no longer welcome")
            return
        await ctx.accept()
        await ctx.track({"name": ctx.join_params.get("name", ctx.user.assigns["name"])})

    async def join_slow(ctx: JoinContext) -> None:
        controls.join_started.set()
        await controls.release_join.wait()
        await ctx.accept()

    async def echo(ctx: EventContext) -> None:
        await ctx.broadcast("echo", ctx.payload)

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", {"echo": ctx.payload})

    async def late(ctx: EventContext) -> None:
        controls.reply_started.set()
        await controls.release_reply.wait()
        await ctx.reply("late-pong", {"late": True})

    async def refuse(ctx: EventContext) -> None:
        raise forbidden(ctx.channel.name, "not for you")

    async def boom(ctx: EventContext) -> None:
        raise RuntimeError("internal detail")

    endpoint = pond.create_endpoint("/api/socket", authenticate)
    rooms = endpoint.create_channel("/room/:id", join_room)
    slow = endpoint.create_channel("/slow/:id", join_slow)

    async def left_slow(ctx: Any) -> None:
        controls.slow_left.set()

    slow.on_leave(left_slow)
    for name, handler in (("echo", echo), ("ping", ping), ("late", late),
                          ("forbidden", refuse), ("boom", boom)):
        rooms.on_message(name, handler)
    controls.app = PondASGIApp(pond)
    return controls
