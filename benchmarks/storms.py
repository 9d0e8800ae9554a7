"""Presence storms: N tracked members join one channel, 100 at a time, until every one of
them sees all N (the big-rooms scenarios, docs/big-rooms.md#measuring).

Kinds of member:

* ``diff``: raw WebSocket clients that ask for the ``presence-diff`` extension, as the SDK
  does: one ``STATE`` on join, then ``DIFF``\\ s. They count the presence bytes they get.
* ``upstream``: raw clients that ask for nothing, so they speak the upstream protocol: the
  whole list in every presence frame (coalesced per window in a big channel).
* ``sdk``: real ``PondClient``\\ s, the SDK's whole presence path (heavier on the driver).

A storm fails (raises) if a join is refused or some member has not seen all N within
:data:`DEADLINE`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

from pondsocket_tools.client import PondClient

from . import driver

KINDS = ("diff", "upstream", "sdk")
BATCH = 100  # members joining at once
DEADLINE = 600.0  # seconds for every member to see all N
PRESENCE_DIFF = "presence-diff"

#: Opens joined raw connections: ``open(channels, params=..., max_queue=..., query=...)``
#: (``Context.open``, which records what each connection negotiated).
Opener = Callable[..., Awaitable[list[ClientConnection]]]


@dataclass
class Storm:
    """A storm whose members all see each other: its figures, and how to let them go."""

    figures: dict[str, float]
    close: Callable[[], Awaitable[None]]


def _tracked(i: int) -> dict[str, Any]:
    return {"track": True, "name": f"u{i}"}


@dataclass
class RawMember:
    """A raw member following the channel's presence: the members its frames describe and
    the presence bytes it received."""

    ws: ClientConnection
    target: int
    members: int = 0
    presence_bytes: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    keys: set[str] = field(default_factory=set)

    async def read(self) -> None:
        async for data in self.ws:
            raw = data if isinstance(data, str) else data.decode()
            if '"action":"PRESENCE"' not in raw[:40]:  # the envelope leads with the action
                continue
            self.presence_bytes += len(raw)
            frame = json.loads(raw)
            payload, event = frame["payload"], frame["event"]
            if event == "STATE":
                self.keys = set(payload["state"])
            elif event == "DIFF":
                self.keys.update(payload["joins"])
                self.keys.difference_update(payload["leaves"])
            self.members = len(self.keys) if event in ("STATE", "DIFF") \
                else len(payload["presence"])
            if self.members >= self.target:
                self.done.set()


async def raw_storm(open_members: Opener, channel: str, n: int, diff: bool) -> Storm:
    """``n`` raw members (asking for presence diffs or not) join ``channel``."""
    members: list[RawMember] = []
    readers: list[asyncio.Task[None]] = []

    async def close() -> None:
        for reader in readers:
            reader.cancel()
        await driver.close_all([m.ws for m in members])

    try:
        for start in range(0, n, BATCH):
            conns = await open_members([channel] * min(BATCH, n - start),
                                       params=lambda i, start=start: _tracked(start + i),
                                       max_queue=None,
                                       query=f"?pond_ext={PRESENCE_DIFF}" if diff else "")
            batch = [RawMember(ws, n) for ws in conns]
            members.extend(batch)
            readers.extend(asyncio.create_task(m.read()) for m in batch)
        await asyncio.wait_for(asyncio.gather(*(m.done.wait() for m in members)), DEADLINE)
    except BaseException:
        for reader in readers:
            reader.cancel()
        driver.abort_all([m.ws for m in members])
        raise
    # Each join is news to the members already there, and the joiner learns them all:
    # N²/2 member-joins in all.
    total = sum(m.presence_bytes for m in members)
    return Storm({"presence B/join/member": total / (n * n / 2)}, close)


async def sdk_storm(url: str, channel: str, n: int) -> Storm:
    """``n`` ``PondClient``\\ s join ``channel``; each must be granted presence diffs."""
    clients = [PondClient(url) for _ in range(n)]
    complete: set[int] = set()
    full = asyncio.Event()

    async def close() -> None:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)

    def watch(i: int, chat: Any) -> None:
        def check(_event: Any = None) -> None:
            if chat.member_count >= n:
                complete.add(i)
                if len(complete) == n:
                    full.set()
        chat.on_presence(check)
        check()  # it may have seen everyone before the callback was set

    try:
        for start in range(0, n, BATCH):
            batch = clients[start:start + BATCH]
            chats = await asyncio.gather(*(c.join(channel, _tracked(start + i))
                                           for i, c in enumerate(batch)))
            for i, chat in enumerate(chats):
                watch(start + i, chat)
        await asyncio.wait_for(full.wait(), DEADLINE)
        refused = sum(1 for c in clients if PRESENCE_DIFF not in c.extensions)
        if refused:
            raise RuntimeError(f"{refused} of {n} clients were not granted {PRESENCE_DIFF}")
    except BaseException:
        await close()
        raise
    return Storm({}, close)
