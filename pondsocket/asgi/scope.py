"""Reading what the core needs out of an ASGI connection scope."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from ..extensions import requested_extensions
from ..types import Headers, IncomingConnection, parse_cookies

Scope = dict[str, Any]

#: An ASGI scope extension a WebSocket server may offer (``pondsocket.asgi.uvicorn``'s
#: :class:`~pondsocket.asgi.uvicorn.PondWebSocketProtocol` does): a callable taking one text
#: frame as UTF-8 bytes that writes it at once and returns True, or returns False when it
#: cannot (paused or closed socket) and the frame must go through the ASGI ``send``.
SEND_TEXT_NOW = "pondsocket.send_text_now"
#: The same for a whole :class:`~pondsocket.wire.Frame`, which the server may write as bytes
#: it shares with other connections (one WebSocket frame, compressed or not, per broadcast).
SEND_FRAME_NOW = "pondsocket.send_frame_now"


def request_path(scope: Scope) -> str:
    """The path relative to the app's mount point (Starlette ``Mount`` keeps the full path
    in ``path`` and the prefix in ``root_path``; other servers strip it)."""
    path: str = scope.get("path") or "/"
    root = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


def query_dict(scope: Scope) -> dict[str, str]:
    """Query parameters, first value of each."""
    query: dict[str, str] = {}
    raw = scope.get("query_string") or b""
    for key, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
        query.setdefault(key, value)
    return query


def incoming_connection(scope: Scope, connection_id: str, params: dict[str, str]
                        ) -> IncomingConnection:
    headers = Headers(scope.get("headers") or [])
    client = scope.get("client")
    address = f"{client[0]}:{client[1]}" if client else ""
    query = query_dict(scope)
    return IncomingConnection(id=connection_id, address=address, headers=headers,
                              cookies=parse_cookies(headers.get("cookie")), query=query,
                              params=dict(params), extensions=requested_extensions(query))


async def send_plain(send: Any, status: int, message: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A small ``text/plain`` HTTP response."""
    if status == 204:  # No Content: no body, no content headers
        await send({"type": "http.response.start", "status": 204, "headers": headers or []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = message.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
