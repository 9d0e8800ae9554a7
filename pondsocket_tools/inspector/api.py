"""A small async client of the admin API (``docs/admin.md``): JSON documents and the
``/events`` Server-Sent Events stream, with errors sorted into "wrong token" and
"unreachable" so the UI can say which."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import aconnect_sse

DEFAULT_URL = "http://127.0.0.1:8765/_pond/admin"


class AdminError(Exception):
    """The admin API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class AuthError(AdminError):
    """401 or 403: no token, or the wrong one."""


class UnreachableError(Exception):
    """The server could not be reached (refused, reset, timed out)."""


def _error_of(response: httpx.Response, body: bytes | None = None) -> AdminError:
    text = (body if body is not None else response.content).decode("utf-8", "replace")
    try:
        message = json.loads(text).get("error") or text
    except (ValueError, AttributeError):
        message = text.strip() or response.reason_phrase
    cls = AuthError if response.status_code in (401, 403) else AdminError
    return cls(response.status_code, str(message))


class AdminClient:
    """The admin API at ``base_url`` (e.g. ``http://127.0.0.1:8765/_pond/admin``)."""

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None,
                 timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token or ""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._http = httpx.AsyncClient(headers=headers, timeout=timeout)
        # The stream waits for events without a read timeout (keepalives come every 15 s).
        self._stream_http = httpx.AsyncClient(
            headers=headers, timeout=httpx.Timeout(timeout, read=None))

    async def get(self, path: str, **params: str) -> dict[str, Any]:
        try:
            response = await self._http.get(self.base_url + path, params=params or None)
        except httpx.TransportError as exc:
            raise UnreachableError(f"{self.base_url}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise _error_of(response)
        return response.json()

    async def overview(self) -> dict[str, Any]:
        return await self.get("/overview")

    async def endpoints(self) -> dict[str, Any]:
        return await self.get("/endpoints")

    async def channels(self) -> dict[str, Any]:
        return await self.get("/channels")

    async def channel(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        params = {"endpoint": endpoint} if endpoint else {}
        return await self.get("/channels/" + quote(name, safe=""), **params)

    async def connections(self) -> dict[str, Any]:
        return await self.get("/connections")

    async def events(self, channel: str | None = None,
                     on_open: Callable[[], Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        """The event documents of ``/events`` until the stream ends; ``on_open`` is called
        once the server has subscribed the stream."""
        params = {"channel": channel} if channel else None
        try:
            async with aconnect_sse(self._stream_http, "GET", self.base_url + "/events",
                                    params=params) as source:
                response = source.response
                if response.status_code != 200:
                    raise _error_of(response, await response.aread())
                if on_open is not None:
                    on_open()
                async for sse in source.aiter_sse():
                    try:
                        doc = json.loads(sse.data)
                    except ValueError:
                        continue
                    if isinstance(doc, dict):
                        yield doc
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise UnreachableError(f"{self.base_url}: {exc or type(exc).__name__}") from None

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._stream_http.aclose()


__all__ = ["DEFAULT_URL", "AdminClient", "AdminError", "AuthError", "UnreachableError"]
