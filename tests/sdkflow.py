"""Waiting on SDK clients: a connection state, a channel's presence, broadcasts seen back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pondsocket_tools.client import ConnectionState, PondClient


async def until_state(client: PondClient, wanted: ConnectionState, timeout: float = 15.0
                      ) -> None:
    """Return once ``client`` is in state ``wanted`` (at once if it is already)."""
    reached = asyncio.Event()
    remove = client.on_state_change(lambda change: reached.set()
                                    if change.state is wanted else None)
    try:
        if client.state is not wanted:
            await asyncio.wait_for(reached.wait(), timeout)
    finally:
        remove()


async def until_presence(chat: Any, done: Callable[[list[dict[str, Any]]], bool],
                         timeout: float = 10.0) -> None:
    """Return once ``done(chat.presence)`` holds (at once if it does already)."""
    reached = asyncio.Event()
    remove = chat.on_presence(lambda _event: reached.set() if done(chat.presence) else None)
    try:
        if not done(chat.presence):
            await asyncio.wait_for(reached.wait(), timeout)
    finally:
        remove()


async def send_and_see(chat: Any, texts: list[str], timeout: float = 10.0) -> None:
    """The sender sends ``texts`` as ``message`` events and sees each come back (the server
    broadcast them)."""
    messages = chat.messages("message")
    for text in texts:
        await chat.send("message", {"text": text})
    for text in texts:
        assert (await messages.get(timeout)).payload["text"] == text
