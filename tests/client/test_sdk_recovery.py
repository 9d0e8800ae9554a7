"""The SDK recovers what it missed while disconnected, by itself, over WebSocket and SSE.

A TCP proxy on 127.0.0.1 sits between one client and the demo server (which has history on
``/chat/:room``) and drops that client's connections for 2 s while another member sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pondsocket_tools.client import ConnectionState, PondClient, RecoveryFailure
from pondsocket_tools.demo import ENDPOINT
from tests.cluster.procs import TcpProxy
from tests.sdkflow import send_and_see, until_state

from .conftest import connected

ROOM = "/chat/recovery"


async def proxied(make_client: Any, demo_server: Any, proxy: TcpProxy, transport: str
                  ) -> PondClient:
    scheme = "ws" if transport == "websocket" else "http"
    url = f"{scheme}://127.0.0.1:{proxy.port}{ENDPOINT}"
    client = make_client(url, {"token": "demo", "name": "reader"}, transport=transport)
    await client.connect()
    return client


@pytest.fixture
async def proxy(demo_server: Any) -> Any:
    relay = TcpProxy(demo_server.port)
    await relay.start()
    yield relay
    await relay.cut()


@pytest.mark.parametrize("transport", ["websocket", "sse"])
async def test_a_client_cut_off_for_two_seconds_gets_every_message_once_in_order(
        demo_server, make_client, proxy, transport) -> None:
    reader = await proxied(make_client, demo_server, proxy, transport)
    assert "history" in reader.extensions
    sender = await connected(make_client, demo_server, "sender")
    chat = await reader.join(ROOM)
    inbox = chat.messages("message")
    failures: list[RecoveryFailure] = []
    chat.on_recovery_failed(failures.append)
    out = await sender.join(ROOM)
    await send_and_see(out, [f"m{i}" for i in range(10)])
    await proxy.cut()
    await until_state(reader, ConnectionState.DISCONNECTED)
    await send_and_see(out, [f"m{i}" for i in range(10, 30)])
    await asyncio.sleep(2)  # the outage itself (the client keeps retrying meanwhile)
    await proxy.restore()
    got = [(await inbox.get(10.0)).payload["text"] for _ in range(30)]
    assert got == [f"m{i}" for i in range(30)]
    assert chat.recovered is True and failures == []
    assert chat.offset is not None and chat.joins == 2
    await send_and_see(out, ["after"])
    assert (await inbox.get(5.0)).payload["text"] == "after"
    assert inbox.pending() == 0  # nothing twice


async def test_a_lost_stream_is_reported_so_the_app_can_reload(demo_server, make_client,
                                                               proxy) -> None:
    reader = await proxied(make_client, demo_server, proxy, "websocket")
    chat = await reader.join(ROOM)
    inbox = chat.messages("message")
    sender = await connected(make_client, demo_server, "sender")
    out = await sender.join(ROOM)
    await send_and_see(out, ["a"])
    assert (await inbox.get(5.0)).payload["text"] == "a"
    old_epoch = chat.epoch
    failed = asyncio.get_running_loop().create_future()
    chat.on_recovery_failed(failed.set_result)
    await proxy.cut()
    await until_state(reader, ConnectionState.DISCONNECTED)
    # As a restart without a persistent store would: the stream and its epoch are gone.
    lobby = demo_server.pond.endpoints[0].lobbies[0]
    lobby.history.store.forget(ROOM)
    await send_and_see(out, ["b"])
    await proxy.restore()
    failure = await asyncio.wait_for(failed, 10)
    assert failure.reason == "epoch changed" and failure.epoch != old_epoch
    assert chat.recovered is False and chat.epoch == failure.epoch
    await send_and_see(out, ["c"])
    # No partial replay ("b" is for the app to reload), then live again in the new epoch.
    assert (await inbox.get(5.0)).payload["text"] == "c"
