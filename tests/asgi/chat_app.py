"""The chat application the adapter, server and admin tests run against (:func:`build_chat`)."""

from __future__ import annotations

from typing import Any

from pondsocket import (
    ConnectionContext,
    EventContext,
    JoinContext,
    LeaveContext,
    Options,
    PondSocket,
)


def build_chat(options: Options | None = None, pubsub: Any = None,
               leaves: list[tuple[str, str, str]] | None = None) -> PondSocket:
    """A small chat server exercising every path of the adapter.

    * ``/api/socket``: ``?token=bad`` is declined 401 "Invalid token", ``?token=boom`` makes
      the handler raise, ``?token=welcome`` replies ``welcome`` after CONNECT; any other
      connection is accepted with the assign ``name`` (from ``?name=``, default ``anon``).
    * ``/other``: a second endpoint accepting everyone (token scoping of SSE).
    * ``/room/:id``: join params ``{"deny": true}`` are declined 403 "denied"; members are
      tracked in presence as ``{"name": <name>}``.
    * events: ``shout`` is broadcast to every member, ``ping`` is answered ``pong``
      ``{"echo": payload}``, ``status`` updates presence, ``evict`` evicts the members named
      ``payload["name"]`` with the reason ``"bye"``, ``fail`` raises.
    * ``leaves``, when given, records every leave of ``/room/:id`` on ``/api/socket`` as
      ``(name, channel, reason)``.
    """
    pond = PondSocket(options=options, pubsub=pubsub)

    async def authenticate(ctx: ConnectionContext) -> None:
        token = ctx.query.get("token")
        if token == "bad":
            ctx.decline(401, "Invalid token")
        elif token == "boom":
            raise RuntimeError("secret internal detail")
        elif token == "welcome":
            ctx.reply("welcome", {"motd": "hi"})
        else:
            ctx.accept(name=ctx.query.get("name", "anon"))

    async def join(ctx: JoinContext) -> None:
        if ctx.join_params.get("deny") is True:
            await ctx.decline(403, "denied")
            return
        await ctx.accept()
        await ctx.track({"name": ctx.user.assigns.get("name", "anon")})

    async def shout(ctx: EventContext) -> None:
        await ctx.broadcast("shout", ctx.payload)

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", {"echo": ctx.payload})

    async def status(ctx: EventContext) -> None:
        await ctx.update_presence({"name": ctx.user.assigns.get("name"),
                                   "status": ctx.payload.get("status")})

    async def evict(ctx: EventContext) -> None:
        assigns = await ctx.get_all_assigns()
        targets = [uid for uid, a in assigns.items() if a.get("name") == ctx.payload["name"]]
        await ctx.evict("bye", *targets)

    async def fail(ctx: EventContext) -> None:
        raise RuntimeError("handler exploded")

    endpoint = pond.create_endpoint("/api/socket", authenticate)
    rooms = endpoint.create_channel("/room/:id", join)
    if leaves is not None:
        async def record_leave(ctx: LeaveContext) -> None:
            leaves.append((ctx.user.assigns.get("name", "anon"), ctx.channel.name, ctx.reason))

        rooms.on_leave(record_leave)
    for name, handler in (("shout", shout), ("ping", ping), ("status", status),
                          ("evict", evict), ("fail", fail)):
        rooms.on_message(name, handler)

    async def accept_all(ctx: ConnectionContext) -> None:
        ctx.accept(name=ctx.query.get("name", "anon"))

    other = pond.create_endpoint("/other", accept_all)
    other.create_channel("/room/:id", join)
    return pond
