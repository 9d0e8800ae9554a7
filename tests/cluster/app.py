"""The application the multi-process cluster tests serve.

``uvicorn tests.cluster.app:app`` with ``REDIS_URL`` (required; several, comma-separated, are
shards of one ``RedisPubSub``; with ``REDIS_CLUSTER=1`` it is a Redis Cluster node), ``NODE_ID``,
``HEARTBEAT_INTERVAL``, ``HEARTBEAT_TIMEOUT``, ``CLUSTER_SECRET``, ``ADMIN_TOKEN`` (the
admin API with write actions, under ``/_pond/admin``) and ``REDIS_HEALTH_CHECK_INTERVAL``
(seconds, or ``off``) in the environment.
Endpoint ``/api/socket``; channel ``/chat/:room`` tracks ``{"name"}`` from the join payload;
``message`` is broadcast to every member, ``kick`` evicts ``payload["ids"]``, ``status``
sets the sender's presence to ``{"name", "status"}`` from the payload.
"""

from __future__ import annotations

import logging
import os

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from pondsocket import (
    AdminOptions,
    ConnectionContext,
    EventContext,
    JoinContext,
    Options,
    PondSocket,
)
from pondsocket.asgi import PondASGIApp
from pondsocket.distributed import RedisPubSub

logging.basicConfig(level=logging.WARNING,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
logging.getLogger("pondsocket").setLevel(logging.INFO)


async def on_connect(ctx: ConnectionContext) -> None:
    ctx.accept()


async def on_join(ctx: JoinContext) -> None:
    await ctx.accept()
    await ctx.track({"name": ctx.join_params.get("name", ctx.user_id)})


async def on_message(ctx: EventContext) -> None:
    await ctx.broadcast("message", ctx.payload)


async def on_kick(ctx: EventContext) -> None:
    await ctx.evict(ctx.payload.get("reason", "kicked"), *ctx.payload["ids"])


async def on_status(ctx: EventContext) -> None:
    await ctx.update_presence({"name": ctx.payload["name"], "status": ctx.payload["status"]})


def build() -> PondSocket:
    env = os.environ
    health = env.get("REDIS_HEALTH_CHECK_INTERVAL", "1")
    if env.get("REDIS_CLUSTER") == "1":
        clients: RedisCluster | list[Redis] = RedisCluster.from_url(env["REDIS_URL"])
    else:
        clients = [Redis.from_url(url) for url in env["REDIS_URL"].split(",")]
    pubsub = RedisPubSub(clients, owns_client=True,
                         health_check_interval=None if health == "off" else float(health))
    # HEARTBEAT_*=default leaves an option at the library's default.
    heartbeat = {name: float(value) for name, env_name, fallback in (
        ("heartbeat_interval", "HEARTBEAT_INTERVAL", "0.5"),
        ("heartbeat_timeout", "HEARTBEAT_TIMEOUT", "5"))
        if (value := env.get(env_name, fallback)) != "default"}
    options = Options(node_id=env.get("NODE_ID", ""), **heartbeat,
                      cluster_secret=env.get("CLUSTER_SECRET") or None)
    pond = PondSocket(pubsub=pubsub, options=options)
    endpoint = pond.create_endpoint("/api/socket", on_connect)
    lobby = endpoint.create_channel("/chat/:room", on_join)
    lobby.on_message("message", on_message)
    lobby.on_message("kick", on_kick)
    lobby.on_message("status", on_status)
    return pond


pond = build()
_token = os.environ.get("ADMIN_TOKEN")
app = PondASGIApp(pond, admin=AdminOptions(token=_token, allow_writes=True) if _token else None)
