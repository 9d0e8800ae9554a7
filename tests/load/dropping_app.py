"""A faulty chat server for the load tests: it drops every 5th broadcast and sends every 7th
twice, so the load-test receivers must report ``lost`` and ``duplicate`` deliveries.

Served with ``python -m uvicorn tests.load.dropping_app:app``.
"""

from __future__ import annotations

import itertools

from pondsocket import ConnectionContext, EventContext, JoinContext, PondSocket
from pondsocket.asgi import PondASGIApp

DROP_EVERY = 5
DUPLICATE_EVERY = 7

_counter = itertools.count(1)


async def authenticate(ctx: ConnectionContext) -> None:
    ctx.accept(name=ctx.query.get("name", "anonymous"))


async def join_room(ctx: JoinContext) -> None:
    await ctx.accept()


async def message(ctx: EventContext) -> None:
    n = next(_counter)
    if n % DROP_EVERY == 0:
        return
    payload = {"from": ctx.user.assigns["name"], "text": ctx.payload.get("text", "")}
    await ctx.broadcast("message", payload)
    if n % DUPLICATE_EVERY == 0:
        await ctx.broadcast("message", payload)


pond = PondSocket()
_rooms = pond.create_endpoint("/api/socket", authenticate).create_channel("/chat/:room",
                                                                         join_room)
_rooms.on_message("message", message)
app = PondASGIApp(pond)
