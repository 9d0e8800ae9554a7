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
#: The most connections the connections view asks for (a big server has many thousands).
CONNECTION_LIMIT = 500


class AdminError(Exception):
    """The admin API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class AuthError(AdminError):
    """401 or 403: no token, or the wrong one."""


class WritesDisabledError(AdminError):
    """403 on a write action: the server was started without ``allow_writes``."""


#: The error message of a write action on a server without ``allow_writes``.
WRITES_DISABLED = "admin write actions are disabled"


class UnreachableError(Exception):
    """The server could not be reached (refused, reset, timed out)."""


def _error_of(response: httpx.Response, body: bytes | None = None) -> AdminError:
    text = (body if body is not None else response.content).decode("utf-8", "replace")
    try:
        message = json.loads(text).get("error") or text
    except (ValueError, AttributeError):
        message = text.strip() or response.reason_phrase
    status = response.status_code
    cls: type[AdminError] = AdminError
    if status == 403 and message == WRITES_DISABLED:
        cls = WritesDisabledError
    elif status in (401, 403):
        cls = AuthError
    return cls(status, str(message))


def _channel_path(name: str) -> str:
    return "/channels/" + quote(name, safe="")


def _endpoint(endpoint: str | None) -> dict[str, str]:
    return {"endpoint": endpoint} if endpoint else {}


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
        """The JSON document at ``path`` (relative to the base URL)."""
        return await self._request("GET", path, params)

    async def post(self, path: str, body: dict[str, Any], **params: str) -> dict[str, Any]:
        """POST ``body`` as JSON to ``path``; the JSON answer."""
        return await self._request("POST", path, params, body)

    async def _request(self, method: str, path: str, params: dict[str, str],
                       body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = await self._http.request(method, self.base_url + path,
                                                params=params or None, json=body)
        except httpx.TransportError as exc:
            raise UnreachableError(f"{self.base_url}: {exc or type(exc).__name__}") from None
        if response.status_code != 200:
            raise _error_of(response)
        return response.json()

    async def overview(self) -> dict[str, Any]:
        """The node (or cluster): sizes, counters, rates and nodes."""
        return await self.get("/overview")

    async def endpoints(self) -> dict[str, Any]:
        """Each endpoint with its connection count and lobby patterns."""
        return await self.get("/endpoints")

    async def channels(self) -> dict[str, Any]:
        """Every live channel with its counts, counters and rates."""
        return await self.get("/channels")

    async def channel(self, name: str, endpoint: str | None = None, *, offset: int = 0,
                      limit: int | None = None) -> dict[str, Any]:
        """Channel ``name`` (of ``endpoint`` when given) with its members: all of them, or
        ``limit`` from ``offset`` (the document's ``members_total`` counts them all)."""
        paging = {"offset": str(offset), "limit": str(limit)} if limit is not None else {}
        return await self.get(_channel_path(name), **paging, **_endpoint(endpoint))

    async def history(self, name: str, endpoint: str | None = None, *, after: int = 0,
                      limit: int = 100) -> dict[str, Any]:
        """Channel ``name``'s stored broadcasts after offset ``after`` (``entries``, with
        ``payload`` only when the server exposes them), its ``epoch`` and top ``offset``."""
        return await self.get(_channel_path(name) + "/history", after=str(after),
                              limit=str(limit), **_endpoint(endpoint))

    async def connections(self, limit: int = CONNECTION_LIMIT,
                          sort: str = "age") -> dict[str, Any]:
        """The first ``limit`` connections by ``sort`` (``age``: oldest first;
        ``queue_depth``, ``dropped_frames``, ``frames_sent``: largest first) with their
        transport, channels and queue, and the ``total`` (an older server sends every
        connection, unsorted, and no total)."""
        return await self.get("/connections", limit=str(limit), sort=sort)

    async def evict(self, name: str, user_id: str, endpoint: str | None = None,
                    reason: str | None = None) -> dict[str, Any]:
        """Evict ``user_id`` from channel ``name`` (:class:`WritesDisabledError` when the
        server does not allow write actions, :class:`AdminError` 404 for an unknown channel
        or member)."""
        body: dict[str, Any] = {"user_id": user_id}
        if reason:
            body["reason"] = reason
        return await self.post(_channel_path(name) + "/evict", body, **_endpoint(endpoint))

    async def close_channel(self, name: str, endpoint: str | None = None,
                            reason: str | None = None) -> dict[str, Any]:
        """Close channel ``name``, evicting its members (errors as :meth:`evict`)."""
        body = {"reason": reason} if reason else {}
        return await self.post(_channel_path(name) + "/close", body, **_endpoint(endpoint))

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
        """Close the HTTP clients."""
        await self._http.aclose()
        await self._stream_http.aclose()


__all__ = ["DEFAULT_URL", "WRITES_DISABLED", "AdminClient", "AdminError", "AuthError",
           "UnreachableError", "WritesDisabledError"]
