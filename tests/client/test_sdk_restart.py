"""Reconnect and rejoin after the server process restarts on the same port."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from pondsocket_tools.client import ChannelState, ConnectionState

from .conftest import connected_to_process

RESTART_TIMEOUT = 20.0


async def restart_and_check(server, make_client, sig: int) -> None:
    ada = connected_to_process(make_client, server, "ada")
    chat = await ada.join("/chat/restart")
    rejoined = asyncio.Event()
    chat.on_join(lambda channel: rejoined.set() if channel.joins == 2 else None)
    down = asyncio.Event()
    ada.on_state_change(lambda change: down.set()
                        if change.state is ConnectionState.DISCONNECTED else None)

    await asyncio.to_thread(server.stop, sig)
    await asyncio.wait_for(down.wait(), RESTART_TIMEOUT)
    if chat.closed_reason is not None:
        raise chat.closed_reason
    assert chat.state is ChannelState.STALLED
    # Sent while the server is down: queued, sent after the rejoin, answered.
    queued = asyncio.ensure_future(chat.request("ping", {"queued": True},
                                                timeout=RESTART_TIMEOUT))
    await asyncio.to_thread(server.start)
    reply = await asyncio.wait_for(queued, RESTART_TIMEOUT)
    assert reply.payload["echo"] == {"queued": True}
    await asyncio.wait_for(rejoined.wait(), RESTART_TIMEOUT)
    assert chat.state is ChannelState.JOINED and ada.connects == 2

    bob = connected_to_process(make_client, server, "bob")
    chat_b = await bob.join("/chat/restart")
    messages = chat.messages("message")
    await chat_b.send("message", {"text": "after the restart"})
    got = await messages.get(RESTART_TIMEOUT)
    assert (got.payload["from"], got.payload["text"]) == ("bob", "after the restart")
    assert sorted(p["name"] for p in chat.presence) == ["ada", "bob"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_reconnect_and_rejoin_after_uvicorn_restart(demo_process_factory, make_client,
                                                          sig: int) -> None:
    server = await asyncio.to_thread(demo_process_factory)
    await restart_and_check(server, make_client, sig)


async def test_reconnect_and_rejoin_after_pondctl_demo_restart(demo_process_factory,
                                                               make_client) -> None:
    server = await asyncio.to_thread(demo_process_factory, command=[
        sys.executable, "-m", "pondsocket_tools.cli", "demo", "--port", "{port}"])
    await restart_and_check(server, make_client, signal.SIGTERM)
