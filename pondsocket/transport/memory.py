"""An in-process transport for tests: push client frames in, read server frames out.

Frames go through the real codec both ways, the same bounded queue and writer task as a
network transport, so what a test sees is what a socket would carry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from ..enums import TransportType
from ..options import Options
from ..types import Event
from ..wire import Frame, encode_json, event_to_wire, frame_to_wire, wire_dict_to_event
from .base import BaseTransport


class InMemoryTransport(BaseTransport):
    """A :class:`~pondsocket.Transport` with no network.

    ``outbox_limit`` bounds how many delivered frames the test has not read yet; when it is
    reached the writer blocks, exactly like a peer that stopped reading (use it to test slow
    consumers). ``extensions`` are the protocol extensions the simulated client asks for
    (:mod:`pondsocket.extensions`), as the ``pond_ext`` query parameter does on a socket.
    """

    kind = TransportType.MEMORY

    def __init__(self, id: str, *, assigns: dict[str, Any] | None = None,
                 options: Options | None = None, outbox_limit: int = 0,
                 extensions: Iterable[str] = ()) -> None:
        super().__init__(id, assigns=assigns, options=options)
        self.extensions = frozenset(extensions)  # asked for; the endpoint grants a subset
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(outbox_limit)

    async def _write(self, frame: Frame) -> None:
        await self._outbox.put(frame_to_wire(frame))

    # -- client side ----------------------------------------------------------------------

    async def push_inbound(self, event: Event | dict[str, Any] | str | bytes) -> None:
        """Deliver one client frame and wait until the server has handled it.

        ``event`` may be an :class:`~pondsocket.Event`, a wire dict, or raw text/bytes (to
        exercise the error paths with malformed frames).
        """
        if isinstance(event, Event):
            data: str | bytes = encode_json(event_to_wire(event))
        elif isinstance(event, dict):
            data = encode_json(event)
        else:
            data = event
        await self.feed(data)

    push_message = push_inbound

    async def receive_json(self, *, wait: float | None = 1.0) -> dict[str, Any]:
        """The next delivered frame as its wire dict; ``TimeoutError`` after ``wait`` s."""
        async with asyncio.timeout(wait):
            return await self._outbox.get()

    async def receive_sent(self, *, wait: float | None = 1.0) -> Event:
        """The next delivered frame as an :class:`~pondsocket.Event`."""
        return wire_dict_to_event(await self.receive_json(wait=wait))

    def outbox_size(self) -> int:
        """Frames delivered but not read yet."""
        return self._outbox.qsize()

    async def drain_outbox(self) -> list[Event]:
        """Read every delivered frame without waiting."""
        events = []
        while not self._outbox.empty():
            events.append(await self.receive_sent(wait=0))
        return events

    def disconnect(self) -> None:
        """Simulate the client dropping the connection."""
        self.connection_lost()


__all__ = ["InMemoryTransport"]
