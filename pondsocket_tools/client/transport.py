"""What the client needs from a connection, and how URLs are built for each transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import PondClientError

TransportName = Literal["websocket", "sse"]

_WS_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_HTTP_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class SendRejectedError(PondClientError):
    """The transport delivered a frame but the server refused it outright (an SSE ``POST``
    answered 4xx/5xx): turned into an error for that frame's request id."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message


class Transport(Protocol):
    """One connection attempt. ``open`` raises
    :class:`~pondsocket_tools.client.errors.HandshakeRejectedError` when the server refuses
    and :class:`~pondsocket_tools.client.errors.ConnectError` when it cannot be reached;
    ``receive`` yields raw frames until the connection ends; ``send`` raises when the
    connection is gone (or :class:`SendRejectedError`)."""

    name: str
    url: str
    close_reason: str

    async def open(self) -> None: ...
    def receive(self) -> AsyncIterator[str | bytes]: ...
    async def send(self, text: str) -> None: ...
    def connected(self, connect_payload: Mapping[str, object]) -> None: ...
    async def close(self) -> None: ...


def build_url(url: str, params: Mapping[str, object] | None,
              transport: TransportName = "websocket") -> str:
    """``url`` with ``params`` merged into its query, its scheme fitted to ``transport``
    (``ws(s)://`` for WebSocket, ``http(s)://`` for SSE; either form is accepted)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    table = _WS_SCHEMES if transport == "websocket" else _HTTP_SCHEMES
    if transport not in ("websocket", "sse"):
        raise ValueError(f"transport must be 'websocket' or 'sse', got {transport!r}")
    if scheme not in table:
        raise ValueError(f"unsupported URL {url!r}: expected ws://, wss://, http:// or https://")
    if not parts.netloc:
        raise ValueError(f"URL {url!r} has no host")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for key, value in (params or {}).items():
        query[str(key)] = "" if value is None else str(value)
    return urlunsplit((table[scheme], parts.netloc, parts.path or "/", urlencode(query), ""))


def redact(url: str) -> str:
    """``url`` with the values of secret-looking query parameters hidden (for messages)."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, "***" if k.lower() in ("token", "password", "secret", "key", "auth") else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="*"),
                       parts.fragment))
