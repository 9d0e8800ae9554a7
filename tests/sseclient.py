"""An SSE stream read raw, for the tests of the ASGI adapter's Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.wsclient import FRAME_KEYS, TIMEOUT, check_frame


class SSEStream:
    """An open ``text/event-stream`` response, parsed into blocks (one event or comment)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks = response.aiter_bytes()
        self._buffer = b""
        self.ended = False

    @property
    def token(self) -> str:
        return self.response.headers["x-connection-id"]

    async def block(self, timeout: float = TIMEOUT) -> list[str]:
        """The lines of the next block (up to the blank line), or [] once the stream ended."""
        async with asyncio.timeout(timeout):
            while b"\n\n" not in self._buffer:
                try:
                    self._buffer += await anext(self._chunks)
                except StopAsyncIteration:
                    self.ended = True
                    assert self._buffer == b"", f"stream ended mid-event: {self._buffer!r}"
                    return []
        block, self._buffer = self._buffer.split(b"\n\n", 1)
        return block.decode().split("\n")

    async def frame(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next event, which must be a single unnamed ``data:`` line of JSON."""
        lines = await self.block(timeout)
        assert len(lines) == 1 and lines[0].startswith("data: "), lines
        frame = json.loads(lines[0][len("data: "):])
        assert list(frame) == FRAME_KEYS, frame
        return frame

    async def expect(self, action: str, event: str, channel: str | None = None,
                     request_id: str | None = None, payload: Any = ...) -> dict[str, Any]:
        """The next event, checked as :meth:`WSClient.expect` does."""
        return check_frame(await self.frame(), action, event, channel, request_id, payload)

    async def rest(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every event still to come, up to the end of the stream (comments skipped)."""
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while lines := await self.block(timeout):
                if all(line.startswith(":") for line in lines):
                    continue
                assert len(lines) == 1 and lines[0].startswith("data: "), lines
                frames.append(json.loads(lines[0][len("data: "):]))
        return frames

    async def ended_cleanly(self, timeout: float = TIMEOUT) -> None:
        assert await self.block(timeout) == []
