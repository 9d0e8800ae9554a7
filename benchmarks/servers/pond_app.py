"""This project under test: a relay channel served by PondASGIApp (uvicorn runs it).

``python -m benchmarks.servers.pond_app PORT [none|deflate|compress-once]`` serves it with
the direct ``pondsocket.wsserver`` adapter instead; without the second argument, with that
adapter's default (no compression), else ``compression=None``, ``"deflate"`` (per recipient)
or ``"compress-once"`` (one compressed frame shared by all recipients), with the GC freezer
on as ``pondctl serve --server websockets`` runs it. With ``REDIS_URL``
it is a cluster node over ``RedisPubSub`` (in namespace ``POND_NAMESPACE`` if set).
"""

from __future__ import annotations

import os

from pondsocket import ConnectionContext, EventContext, JoinContext, Options, PondSocket
from pondsocket.asgi import PondASGIApp


async def accept_all(ctx: ConnectionContext) -> None:
    ctx.accept()


async def join(ctx: JoinContext) -> None:
    await ctx.accept()
    if ctx.join_params.get("track"):
        await ctx.track({"name": ctx.join_params.get("name", "")})


async def relay(ctx: EventContext) -> None:
    await ctx.broadcast(ctx.event_name, ctx.payload)


async def echo(ctx: EventContext) -> None:
    await ctx.reply("pong", ctx.payload)


def _pubsub():
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    from redis.asyncio import Redis

    from pondsocket.distributed import RedisPubSub

    if os.environ.get("REDIS_CLUSTER") == "1":  # a Redis Cluster: sharded pub/sub
        from redis.asyncio.cluster import RedisCluster

        return RedisPubSub(RedisCluster.from_url(url), owns_client=True)
    # several comma-separated URLs: shards
    return RedisPubSub([Redis.from_url(u) for u in url.split(",")], owns_client=True)


# a namespace per benchmark run (POND_NAMESPACE), so nodes of another run never mix in
NAMESPACE = os.environ.get("POND_NAMESPACE", "default")
pond = PondSocket(pubsub=_pubsub(), options=Options(namespace=NAMESPACE))
endpoint = pond.create_endpoint("/ws", accept_all)
lobby = endpoint.create_channel("/bench/:id", join)
lobby.on_message("msg", relay)
lobby.on_message("ping", echo)
app = PondASGIApp(pond)


if __name__ == "__main__":  # the direct websockets adapter: python -m ... PORT
    import asyncio
    import sys

    import uvloop

    from pondsocket.wsserver import serve

    options = {}
    if len(sys.argv) > 2:
        if sys.argv[2] not in ("none", "deflate", "compress-once"):
            sys.exit(f"compression must be none, deflate or compress-once, not {sys.argv[2]!r}")
        options["compression"] = None if sys.argv[2] == "none" else sys.argv[2]
    uvloop.install()
    asyncio.run(serve(pond, "127.0.0.1", int(sys.argv[1]), gc_freeze=True, **options))
