"""The server side of a Server-Sent Events connection, independent of any HTTP library.

The adapter streams :meth:`SSEServerTransport.next_frame` results to the response body and
feeds POSTed client frames to :meth:`SSEServerTransport.push_message`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..enums import TransportType
from ..options import Options
from ..types import Event
from ..wire import Frame, frame_to_event
from .base import BaseTransport


class SSEServerTransport(BaseTransport):
    """A transport whose outbound frames are pulled by the HTTP response loop."""

    kind = TransportType.SSE

    def __init__(self, *, id: str, assigns: dict[str, Any] | None = None,
                 options: Options | None = None) -> None:
        super().__init__(id, assigns=assigns, options=options)
        # One frame in hand-off: the bounded queue is the transport's own outbound queue.
        self._handoff: asyncio.Queue[Frame | None] = asyncio.Queue(1)

    async def _write(self, frame: Frame) -> None:
        await self._handoff.put(frame)

    async def _shutdown(self, code: int, reason: str) -> None:
        if self._flush_on_close:  # a server-side close: let the stream take the last frame
            try:
                async with asyncio.timeout(self.send_timeout):
                    await self._handoff.put(None)
                return
            except TimeoutError:
                pass
        while not self._handoff.empty():  # the peer is gone: make room for the end marker
            self._handoff.get_nowait()
        self._handoff.put_nowait(None)

    async def next_frame(self) -> Frame | None:
        """The next frame to stream, or ``None`` once the connection is closed."""
        if self._closed.is_set() and self._handoff.empty():
            return None
        return await self._handoff.get()

    async def next_event(self) -> Event | None:
        """Like :meth:`next_frame`, decoded into an :class:`~pondsocket.Event`."""
        frame = await self.next_frame()
        if frame is None:
            return None
        return frame_to_event(frame)

    async def push_message(self, data: bytes | str) -> None:
        """Handle one client frame (the body of a POST)."""
        await self.feed(data)

    async def wait_until_closed(self) -> None:
        await self.wait_closed()


__all__ = ["SSEServerTransport"]
