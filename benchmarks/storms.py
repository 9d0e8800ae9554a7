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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

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


# What a member reads of a presence frame: the keys, not the presence objects (left raw).
# The driver's own decoding competes with the server for the cores: a 5,000 storm delivers
# about 1.4 GB of presence JSON to its members.
class _Frame(msgspec.Struct):
    event: str
    payload: msgspec.Raw


class _State(msgspec.Struct):
    state: dict[str, msgspec.Raw]


class _Diff(msgspec.Struct):
    joins: dict[str, msgspec.Raw]
    leaves: dict[str, msgspec.Raw]


class _Upstream(msgspec.Struct):
    presence: list[msgspec.Raw]


_frame = msgspec.json.Decoder(_Frame).decode
_state = msgspec.json.Decoder(_State).decode
_diff = msgspec.json.Decoder(_Diff).decode
_upstream = msgspec.json.Decoder(_Upstream).decode


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
        try:
            while True:
                raw = await self.ws.recv(decode=False)
                if b'"action":"PRESENCE"' not in raw[:40]:  # the envelope leads with it
                    continue
                self.presence_bytes += len(raw)
                frame = _frame(raw)
                if frame.event == "STATE":
                    self.keys = set(_state(frame.payload).state)
                    self.members = len(self.keys)
                elif frame.event == "DIFF":
                    diff = _diff(frame.payload)
                    self.keys.update(diff.joins)
                    self.keys.difference_update(diff.leaves)
                    self.members = len(self.keys)
                else:
                    self.members = len(_upstream(frame.payload).presence)
                if self.members >= self.target:
                    self.done.set()
        except ConnectionClosed:
            return


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
