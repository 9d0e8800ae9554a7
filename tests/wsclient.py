"""A ``websockets`` test client speaking PondSocket JSON frames, with bounded receives.

:func:`open_client` connects to any server of :mod:`tests.servers` (anything with
``ws_url(path)``) and reads the ``CONNECT`` frame; :func:`close_all` closes clients at the end
of a test without waiting long for one that stopped reading.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# Bound for any single awaited event (a frame, a status, a stream chunk).
TIMEOUT = 5.0

FRAME_KEYS = ["action", "event", "channelName", "requestId", "payload"]


class HasWsUrl(Protocol):
    def ws_url(self, path: str) -> str: ...


def check_frame(frame: dict[str, Any], action: str, event: str, channel: str | None = None,
                request_id: str | None = None, payload: Any = ...) -> dict[str, Any]:
    """Assert ``frame``'s action and event, and the other fields that are given."""
    assert (frame["action"], frame["event"]) == (action, event), frame
    if channel is not None:
        assert frame["channelName"] == channel, frame
    if request_id is not None:
        assert frame["requestId"] == request_id, frame
    if payload is not ...:
        assert frame["payload"] == payload, frame
    return frame


class WSClient:
    """A ``websockets`` client speaking JSON frames, with bounded receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.connect_frame: dict[str, Any] = {}

    @property
    def user_id(self) -> str:
        return self.connect_frame["payload"]["id"]

    async def send(self, frame: dict[str, Any] | list[Any] | str | bytes) -> None:
        if isinstance(frame, dict | list):
            frame = json.dumps(frame)
        await self.ws.send(frame)

    async def send_msg(self, action: str, channel: str, event: str = "",
                       payload: Any = None, request_id: str = "") -> str:
        request_id = request_id or f"r-{action.lower()}-{channel}-{event}"
        await self.send({"action": action, "event": event or action, "channelName": channel,
                         "requestId": request_id,
                         "payload": {} if payload is None else payload})
        return request_id

    async def recv(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(raw, str), f"expected a text frame, got {raw!r}"
        frame = json.loads(raw)
        assert list(frame) == FRAME_KEYS, frame
        return frame

    async def expect(self, action: str, event: str, channel: str | None = None,
                     request_id: str | None = None, payload: Any = ...) -> dict[str, Any]:
        """Receive the next frame and check it (only the given fields are checked)."""
        return check_frame(await self.recv(), action, event, channel, request_id, payload)

    async def join(self, channel: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        rid = await self.send_msg("JOIN_CHANNEL", channel, payload=params or {},
                                  request_id=f"join-{channel}")
        return await self.expect("SYSTEM", "ACKNOWLEDGE", channel, rid, {})

    async def closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str | None]:
        """Wait for the close handshake; returns the code and reason the server sent."""
        async with asyncio.timeout(timeout):
            await self.ws.wait_closed()
        rcvd = self.ws.protocol.close_rcvd
        return (rcvd.code, rcvd.reason) if rcvd is not None else (None, None)

    async def rest(self, timeout: float = TIMEOUT
                   ) -> tuple[list[dict[str, Any]], tuple[int | None, str | None]]:
        """Every frame still to come, up to the close; and the close code and reason."""
        frames: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while True:
                try:
                    frames.append(await self.recv(timeout))
                except ConnectionClosed:
                    break
        return frames, await self.closed(timeout)

    async def close(self) -> None:
        await self.ws.close()


async def open_client(server: HasWsUrl, path: str, *, read_connect: bool = True,
                      **kwargs: Any) -> WSClient:
    """Connect to ``server`` at ``path`` (``kwargs`` go to ``websockets`` ``connect``) and,
    unless ``read_connect`` is false, read and check the ``CONNECT`` frame."""
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", 2)
    client = WSClient(await connect(server.ws_url(path), **kwargs))
    if read_connect:
        client.connect_frame = await client.expect("CONNECT", "CONNECTION", "GATEWAY")
    return client


async def close_all(clients: Iterable[WSClient]) -> None:
    """Close every client. One with many unread frames has stopped reading its socket, so it
    would not see the server's close frame: give up on its handshake quickly."""

    async def close(client: WSClient) -> None:
        try:
            async with asyncio.timeout(0.5):
                await client.close()
        except Exception:
            client.ws.transport.abort()

    await asyncio.gather(*(close(client) for client in clients))
