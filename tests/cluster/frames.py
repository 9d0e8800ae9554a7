"""What both kinds of cluster test client share: reading frames, matching them, and
describing them in assertion messages (``inproc`` clients read an in-memory transport,
``procs`` clients a real WebSocket)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

WAIT = 3.0  # bound for any single awaited frame or condition

Frame = dict[str, Any]


def names(frame: Frame) -> list[str]:
    """The names in a PRESENCE frame's list, in order."""
    return [p.get("name") for p in frame["payload"]["presence"]]


def brief(frame: Frame) -> str:
    """One readable line per frame, for assertion messages and the recorded logs."""
    p = frame["payload"]
    if frame["action"] == "CLOSED":
        return f"connection ended: {frame['event']}"
    if frame["action"] == "PRESENCE" and "changed" in p:
        return f"PRESENCE {frame['event']} changed={p['changed'].get('name')} list={names(frame)}"
    return f"{frame['action']} {frame['event']} {json.dumps(p)}"


def is_presence(event: str, changed: str | None = None) -> Callable[[Frame], bool]:
    def match(f: Frame) -> bool:
        return (f["action"] == "PRESENCE" and f["event"] == event
                and (changed is None or f["payload"]["changed"].get("name") == changed))
    return match


def is_message(**payload: Any) -> Callable[[Frame], bool]:
    def match(f: Frame) -> bool:
        return (f["action"] == "BROADCAST" and f["event"] == "message"
                and all(f["payload"].get(k) == v for k, v in payload.items()))
    return match


class FrameWaits:
    """``wait_for`` and ``wait_presence`` over a client's ``next(timeout)``; the client
    names itself in failures with ``who``, keeps the last presence list in ``presence``, and
    sets its default bound in ``wait``."""

    presence: list[str] | None
    wait: float = WAIT

    @property
    def who(self) -> str:
        raise NotImplementedError

    async def next(self, timeout: float = WAIT) -> Frame:
        raise NotImplementedError

    async def wait_for(self, pred: Callable[[Frame], bool], timeout: float | None = None,
                       what: str = "") -> tuple[Frame, list[Frame]]:
        """Read frames until one matches; returns it and every frame read before it."""
        timeout = self.wait if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        got: list[Frame] = []
        while True:
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                frame = await self.next(remaining)
            except TimeoutError:
                raise AssertionError(
                    f"{self.who}: no {what or 'matching'} frame within {timeout}s; "
                    f"read meanwhile: {[brief(f) for f in got]}") from None
            if pred(frame):
                return frame, got
            got.append(frame)

    async def wait_presence(self, expected: set[str], timeout: float | None = None) -> None:
        """Read until the last presence list holds exactly ``expected`` (order-free)."""
        if self.presence is not None and set(self.presence) == expected:
            return
        await self.wait_for(lambda f: f["action"] == "PRESENCE" and set(names(f)) == expected,
                            timeout, what=f"presence {sorted(expected)}")
