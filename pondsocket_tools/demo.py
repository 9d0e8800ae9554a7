"""The built-in demo: a chat server that shows every PondSocket feature.

* Endpoint ``/api/socket``: connect with ``?token=demo`` (or ``?token=demo-mod`` for a
  moderator) and optionally ``&name=ada``; any other token is refused with 401.
* Channels ``/chat/:room``: every joiner is tracked in presence as
  ``{"name", "status": "online", "role"}``.
* Events: ``message`` (broadcast to the room with the sender's name), ``ping`` (request/reply:
  answers ``pong`` with the server time), ``status`` (updates the sender's presence status),
  ``kick`` (moderators only: evicts the members named ``{"name": ...}``).
"""

from __future__ import annotations

import secrets
import time

from pondsocket import (
    ConnectionContext,
    EventContext,
    JoinContext,
    Options,
    PondSocket,
    bad_request,
    forbidden,
)
from pondsocket.history import HistoryStore, enable_history

DEMO_TOKENS = {"demo": "member", "demo-mod": "moderator"}
ENDPOINT = "/api/socket"


async def authenticate(ctx: ConnectionContext) -> None:
    role = DEMO_TOKENS.get(ctx.query.get("token", ""))
    if role is None:
        ctx.decline(401, "Invalid token: connect with ?token=demo")
        return
    name = ctx.query.get("name") or f"guest-{secrets.token_hex(2)}"
    ctx.accept(name=name[:40], role=role)


async def join_room(ctx: JoinContext) -> None:
    await ctx.accept()
    assigns = ctx.user.assigns
    await ctx.track({"name": assigns["name"], "status": "online", "role": assigns["role"]})


async def message(ctx: EventContext) -> None:
    text = ctx.payload.get("text")
    if not isinstance(text, str):
        raise bad_request(ctx.channel.name, 'message needs {"text": "<string>"}')
    await ctx.broadcast("message", {"from": ctx.user.assigns["name"], "text": text[:2000],
                                    "at": time.time()})


async def ping(ctx: EventContext) -> None:
    await ctx.reply("pong", {"time": time.time(), "echo": ctx.payload})


async def status(ctx: EventContext) -> None:
    assigns = ctx.user.assigns
    await ctx.update_presence({"name": assigns["name"],
                               "status": str(ctx.payload.get("status", "online"))[:40],
                               "role": assigns["role"]})


async def kick(ctx: EventContext) -> None:
    if ctx.user.assigns.get("role") != "moderator":
        raise forbidden(ctx.channel.name, "Only moderators may kick")
    target = ctx.payload.get("name")
    assigns = await ctx.get_all_assigns()
    ids = [uid for uid, a in assigns.items() if a.get("name") == target]
    if ids:
        await ctx.evict(f"Kicked by {ctx.user.assigns['name']}", *ids)
    await ctx.reply("kicked", {"name": target, "count": len(ids)})


def build_pond(pond: PondSocket | None = None,
               history_store: HistoryStore | None = None) -> PondSocket:
    """The demo's :class:`PondSocket` (pass one to configure options or a pub/sub, and the
    history store its nodes share)."""
    pond = pond or PondSocket()
    endpoint = pond.create_endpoint(ENDPOINT, authenticate)
    rooms = endpoint.create_channel("/chat/:room", join_room)
    rooms.on_message("message", message)
    rooms.on_message("ping", ping)
    rooms.on_message("status", status)
    rooms.on_message("kick", kick)
    # Clients that reconnect get what they missed (docs/recovery.md).
    enable_history(rooms, store=history_store)
    return pond


def create_app(redis_url: str | None = None, admin_token: str | None = None,
               admin_writes: bool = False, namespace: str | None = None):
    """The demo as an ASGI app (``uvicorn --factory pondsocket_tools.demo:create_app``).

    With ``redis_url`` (or ``PONDSOCKET_REDIS_URL`` in the environment) the demo is a cluster
    node: run several on different ports with the same Redis and they share the rooms;
    ``namespace`` (or ``PONDSOCKET_NAMESPACE``; default ``demo``) keeps them apart from
    other apps on that Redis.
    With ``admin_token`` (or ``PONDSOCKET_ADMIN_TOKEN``) the admin API is served under
    ``/_pond/admin`` with that bearer token (see ``docs/admin.md``); ``admin_writes`` (or
    ``PONDSOCKET_ADMIN_WRITES=1``) enables its evict and close actions.
    """
    import os

    from pondsocket.asgi import PondASGIApp

    redis_url = redis_url or os.environ.get("PONDSOCKET_REDIS_URL")
    pond = None
    store = None
    if redis_url:
        from redis.asyncio import Redis

        from pondsocket.distributed import RedisHistoryStore, RedisPubSub

        namespace = namespace or os.environ.get("PONDSOCKET_NAMESPACE") or "demo"
        redis = Redis.from_url(redis_url)
        pond = PondSocket(pubsub=RedisPubSub(redis, owns_client=True),
                          options=Options(namespace=namespace))
        # History in Redis too: a client that reconnects to another node recovers.
        store = RedisHistoryStore(redis, prefix=f"pondsocket:history:{namespace}")
    admin_token = admin_token or os.environ.get("PONDSOCKET_ADMIN_TOKEN")
    admin = None
    if admin_token:
        from pondsocket import AdminOptions

        admin_writes = admin_writes or os.environ.get("PONDSOCKET_ADMIN_WRITES") == "1"
        # A demo's chat is test data: pondctl history shows the payloads too.
        admin = AdminOptions(token=admin_token, allow_writes=admin_writes,
                             expose_history_payloads=True)
    return PondASGIApp(build_pond(pond, store), admin=admin, health_path="/healthz")
