"""The WebSocket transport, over the ``websockets`` library."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from .errors import ConnectError, ConnectionLostError, HandshakeRejectedError
from .options import ClientOptions
from .transport import redact


class WebSocketTransport:
    """One WebSocket connection to ``url`` (``ws://`` or ``wss://``)."""

    name = "websocket"

    def __init__(self, url: str, options: ClientOptions) -> None:
        self.url = url
        self._options = options
        self._ws: ClientConnection | None = None
        self.close_reason = ""

    async def open(self) -> None:
        opts = self._options
        # websockets refuses an SSL context for ws://: pass it only where TLS is spoken.
        tls: dict[str, Any] = {"ssl": opts.ssl_context} if (
            opts.ssl_context is not None and self.url.startswith("wss://")) else {}
        try:
            self._ws = await connect(
                self.url, open_timeout=opts.connect_timeout, ping_interval=opts.ping_interval,
                ping_timeout=opts.ping_timeout, close_timeout=min(opts.close_timeout, 2.0),
                max_size=opts.max_message_size, additional_headers=opts.headers or None,
                **tls)
        except InvalidStatus as exc:
            response = exc.response
            body = response.body.decode(errors="replace") if response.body else ""
            raise HandshakeRejectedError(response.status_code, body or response.reason_phrase,
                                         url=self.url) from None
        except InvalidURI as exc:
            raise ValueError(f"invalid WebSocket URL {redact(self.url)!r}: {exc}") from None
        except (OSError, TimeoutError, InvalidHandshake, EOFError) as exc:
            raise ConnectError(f"cannot connect to {redact(self.url)}: {_describe(exc)}",
                               url=self.url, cause=exc) from None

    async def receive(self) -> AsyncIterator[str | bytes]:
        ws = self._ws
        assert ws is not None, "open() first"
        try:
            async for message in ws:
                yield message
        except ConnectionClosed:
            pass
        finally:
            self.close_reason = _close_reason(ws)

    @property
    def close_code(self) -> int | None:
        """The close code the server sent (``None`` before the close, or if none came)."""
        return self._ws.close_code if self._ws is not None else None

    @property
    def close_text(self) -> str:
        """The close reason the server sent."""
        return (self._ws.close_reason or "") if self._ws is not None else ""

    async def send(self, text: str) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionLostError("not connected")
        try:
            await ws.send(text)
        except ConnectionClosed as exc:
            raise ConnectionLostError(f"connection closed: {_close_reason(ws)}") from exc

    def connected(self, connect_payload: Mapping[str, object]) -> None:
        """Nothing to learn from the CONNECT frame for WebSocket."""

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            await ws.close()


_CLOSE_MEANINGS = {1000: "normal closure", 1001: "going away", 1006: "abnormal closure",
                   1008: "policy violation", 1009: "message too big", 1011: "server error",
                   1012: "service restart", 1013: "try again later"}


def _close_reason(ws: ClientConnection) -> str:
    code, reason = ws.close_code, ws.close_reason
    if code is None or code == 1006:
        return "connection lost"
    reason = reason or _CLOSE_MEANINGS.get(code, "")
    return f"closed by the server with code {code}" + (f" ({reason})" if reason else "")


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text
