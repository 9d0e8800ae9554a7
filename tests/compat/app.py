"""The server the wire-compatibility tests run the upstream clients against.

Served by uvicorn as ``tests.compat.app:app``:

* endpoint ``/api/socket``: the query ``token`` must be ``secret`` (else 401 "Invalid token");
* channel ``/chat/:room``: a join whose params contain ``{"deny": true}`` is declined with
  403 "denied"; any other join is accepted and tracked as
  ``{"name": <join param name>, "status": "online"}``;
* events: ``message`` is broadcast to every member unchanged, ``ping`` is answered with
  ``pong`` ``{"t": 1}``, ``status`` updates the sender's presence status (keeping its name),
  ``kick`` evicts the members listed in ``payload["ids"]`` (user ids or presence names) with
  the reason ``"bye"``.
"""

from __future__ import annotations

from pondsocket import ConnectionContext, EventContext, JoinContext, PondSocket
from pondsocket.asgi import PondASGIApp

ENDPOINT = "/api/socket"
TOKEN = "secret"


async def authenticate(ctx: ConnectionContext) -> None:
    if ctx.query.get("token") != TOKEN:
        ctx.decline(401, "Invalid token")
        return
    ctx.accept()


async def join_chat(ctx: JoinContext) -> None:
    params = ctx.join_params
    if params.get("deny") is True:
        await ctx.decline(403, "denied")
        return
    await ctx.accept()
    await ctx.track({"name": params.get("name"), "status": "online"})


async def on_message(ctx: EventContext) -> None:
    await ctx.broadcast(ctx.event_name, ctx.payload)


async def on_ping(ctx: EventContext) -> None:
    await ctx.reply("pong", {"t": 1})


async def on_status(ctx: EventContext) -> None:
    current = ctx.user.presence or {}
    await ctx.update_presence({"name": current.get("name"), "status": ctx.payload.get("status")})


async def on_kick(ctx: EventContext) -> None:
    wanted = {str(x) for x in ctx.payload.get("ids") or []}
    presence = await ctx.get_all_presence()
    targets = [uid for uid in ctx.channel.members
               if uid in wanted or (presence.get(uid) or {}).get("name") in wanted]
    if targets:
        await ctx.evict("bye", *targets)


def build_pond() -> PondSocket:
    pond = PondSocket()
    endpoint = pond.create_endpoint(ENDPOINT, authenticate)
    lobby = endpoint.create_channel("/chat/:room", join_chat)
    lobby.on_message("message", on_message)
    lobby.on_message("ping", on_ping)
    lobby.on_message("status", on_status)
    lobby.on_message("kick", on_kick)
    return pond


pond = build_pond()
app = PondASGIApp(pond)
