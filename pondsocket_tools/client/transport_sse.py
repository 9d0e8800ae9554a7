"""The Server-Sent Events transport, over ``httpx`` and ``httpx-sse``.

``GET`` with ``Accept: text/event-stream`` opens the stream (every ``data:`` line is one
server frame); each client frame is a ``POST`` to the same URL carrying the connection's
secret token in ``X-Connection-ID``; ``DELETE`` with the token disconnects.

The stream is read by a task of the transport, not by whoever iterates :meth:`receive`: a
consumer that is cancelled (the client closing) leaves the stream open, so that
:meth:`close` can send its ``DELETE`` while the server still knows the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from httpx_sse import EventSource, SSEError

from .errors import ConnectError, ConnectionLostError, HandshakeRejectedError
from .options import ClientOptions
from .transport import SendRejectedError, redact

CONNECTION_HEADER = "X-Connection-ID"
EVENT_BUFFER = 256  # frames read ahead of the consumer (beyond: the stream is not read)


class SSETransport:
    """One SSE connection to ``url`` (``http://`` or ``https://``)."""

    name = "sse"

    def __init__(self, url: str, options: ClientOptions) -> None:
        self.url = url
        self._options = options
        self._http: httpx.AsyncClient | None = None
        self._stream: Any = None  # the response context manager
        self._response: httpx.Response | None = None
        self.token: str | None = None
        self.close_reason = ""
        self._events: asyncio.Queue[str | None] = asyncio.Queue(EVENT_BUFFER)
        self._pump: asyncio.Task[None] | None = None

    async def open(self) -> None:
        opts = self._options
        timeout = httpx.Timeout(opts.connect_timeout, read=opts.sse_read_timeout)
        self._http = httpx.AsyncClient(timeout=timeout, headers=opts.headers or None,
                                       verify=opts.ssl_context or True)
        self._stream = self._http.stream("GET", self.url, headers={
            "Accept": "text/event-stream", "Cache-Control": "no-store"})
        try:
            response = await self._stream.__aenter__()
        except httpx.HTTPError as exc:
            await self._http.aclose()
            raise ConnectError(f"cannot connect to {redact(self.url)}: {_describe(exc)}",
                               url=self.url, cause=exc) from None
        self._response = response
        if response.status_code != 200:
            body = (await response.aread()).decode(errors="replace")
            await self.close()
            raise HandshakeRejectedError(response.status_code,
                                         body or response.reason_phrase, url=self.url)
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            await self.close()
            raise ConnectError(f"{redact(self.url)} answered {content_type!r}, not an event "
                               "stream (is this a PondSocket SSE endpoint?)", url=self.url)
        self.token = response.headers.get("x-connection-id")
        self._pump = asyncio.get_running_loop().create_task(self._read_stream(response))

    async def _read_stream(self, response: httpx.Response) -> None:
        """Move the stream's frames into the buffer :meth:`receive` reads; None ends it."""
        try:
            async for event in EventSource(response).aiter_sse():
                if event.data:
                    await self._events.put(event.data)
            self.close_reason = "the server ended the event stream"
        except httpx.ReadTimeout:
            self.close_reason = (f"no data or keep-alive for {self._options.sse_read_timeout:g}s")
        except (httpx.HTTPError, SSEError) as exc:
            self.close_reason = f"event stream failed: {_describe(exc)}"
        await self._events.put(None)

    async def receive(self) -> AsyncIterator[str]:
        assert self._response is not None, "open() first"
        while (data := await self._events.get()) is not None:
            yield data

    def connected(self, connect_payload: Mapping[str, object]) -> None:
        """Take the token from the CONNECT frame when the response header had none."""
        token = connect_payload.get("connectionId")
        if self.token is None and isinstance(token, str):
            self.token = token

    async def send(self, text: str) -> None:
        if self._http is None or self.token is None:
            raise ConnectionLostError("not connected")
        try:
            response = await self._http.post(self.url, content=text.encode(), headers={
                "Content-Type": "application/json", CONNECTION_HEADER: self.token})
        except httpx.HTTPError as exc:
            raise ConnectionLostError(f"POST failed: {_describe(exc)}") from exc
        if response.status_code in (404, 410):
            raise ConnectionLostError("the server no longer knows this SSE connection")
        if response.status_code >= 400:
            raise SendRejectedError(response.status_code, response.text.strip())

    async def close(self) -> None:
        http, self._http = self._http, None
        if http is None:
            return
        if self.token is not None and self._response is not None:
            # Before the stream is closed: a DELETE for a stream the server saw end is late.
            with contextlib.suppress(httpx.HTTPError):
                await http.delete(self.url, headers={CONNECTION_HEADER: self.token},
                                  timeout=min(self._options.close_timeout, 2.0))
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
            self._end_events()
        stream, self._stream = self._stream, None
        if stream is not None and self._response is not None:
            with contextlib.suppress(Exception):
                await stream.__aexit__(None, None, None)
        await http.aclose()

    def _end_events(self) -> None:
        """Tell a consumer of :meth:`receive` that no more frames come (the reader was
        stopped; frames it had read but nobody took are dropped if the buffer is full)."""
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.ConnectError):
        text = str(exc)
        if "refused" in text.lower():
            return "connection refused (is the server running?)"
        return text or "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    return str(exc) or type(exc).__name__
