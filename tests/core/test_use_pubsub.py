"""``PondSocket.use_pubsub``: a server defined without a pub/sub becomes a cluster node
(what ``pondctl serve --redis`` does to an app), as if the pub/sub had been given to the
constructor; too late, or a second time, is refused with the reason."""

from __future__ import annotations

import asyncio

import pytest

from pondsocket import LocalBus, LocalPubSub, PondSocket
from tests.core.helpers import accept_connection, accept_join, connect, join


def define(pond: PondSocket) -> None:
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/room/:id", accept_join)

    async def shout(ctx):  # type: ignore[no-untyped-def]
        await ctx.broadcast("shout", ctx.payload)

    lobby.on_message("shout", shout)


async def test_two_servers_given_a_pubsub_later_share_a_channel() -> None:
    bus = LocalBus()
    ponds = [PondSocket(), PondSocket()]
    for pond in ponds:
        define(pond)
        pond.use_pubsub(LocalPubSub(bus=bus))
        assert pond.cluster is not None and pond.pubsub is not None
        assert next(iter(pond.listeners)) is pond.cluster  # told first, as when constructed
    try:
        for pond in ponds:
            await pond.start()
        a = await connect(ponds[0].endpoints[0], "a")
        b = await connect(ponds[1].endpoints[0], "b")
        await join(a, "/room/1")
        await join(b, "/room/1")
        channel = ponds[0].find_channel("/room/1")
        assert channel is not None
        await channel.broadcast("shout", {"hi": 1})
        async with asyncio.timeout(5):
            while (await b.receive_json())["event"] != "shout":
                pass  # presence and join frames of the other node first
    finally:
        for pond in ponds:
            await pond.close()


async def test_a_second_pubsub_is_refused() -> None:
    pond = PondSocket(pubsub=LocalPubSub(bus=LocalBus()))
    with pytest.raises(RuntimeError, match="already has a pub/sub"):
        pond.use_pubsub(LocalPubSub(bus=LocalBus()))
    await pond.close()


async def test_a_pubsub_after_channels_exist_is_refused() -> None:
    pond = PondSocket()
    define(pond)
    await join(await connect(pond.endpoints[0], "a"), "/room/1")
    with pytest.raises(RuntimeError, match="before the server has channels"):
        pond.use_pubsub(LocalPubSub(bus=LocalBus()))
    assert pond.cluster is None
    await pond.close()
