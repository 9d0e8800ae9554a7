"""The history benchmark's control on 2 nodes: the relay app (``pond_app``) with history off
whose relay awaits one Redis ``PING`` before each broadcast, as history's append awaits its
script: ``python -m benchmarks.servers.roundtrip_app PORT`` (needs ``REDIS_URL``). What it
costs over plain ``pond_app`` is what one awaited Redis round trip per broadcast costs,
without any history work."""

from __future__ import annotations

import os

from redis.asyncio import Redis

from pondsocket import EventContext, Options, PondSocket

from . import pond_app

_redis = Redis.from_url(os.environ["REDIS_URL"])


async def relay(ctx: EventContext) -> None:
    await _redis.ping()
    await ctx.broadcast(ctx.event_name, ctx.payload)


# Its own lobby: pond_app's already routes "msg" to its relay (the first match wins).
pond = PondSocket(pubsub=pond_app._pubsub(), options=Options(namespace=pond_app.NAMESPACE))
lobby = pond.create_endpoint("/ws", pond_app.accept_all).create_channel("/bench/:id",
                                                                        pond_app.join)
lobby.on_message("msg", relay)


if __name__ == "__main__":
    import asyncio
    import sys

    import uvloop

    from pondsocket.wsserver import serve

    uvloop.install()
    asyncio.run(serve(pond, "127.0.0.1", int(sys.argv[1]), compression=None, gc_freeze=True))
