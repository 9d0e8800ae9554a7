"""An SSE disconnect is quiet: the SDK sends its ``DELETE`` while its stream is still open,
and a ``DELETE`` that arrives after its stream ended is answered 204, not 404."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pondsocket.asgi import PondASGIApp
from pondsocket_tools.client import PondClient
from tests.asgi.conftest import build_chat

pytestmark = pytest.mark.timeout(60)


class Recorder:
    """The chat app, recording each HTTP request's method, status and how many SSE streams
    were open when it arrived; ``streams_ended`` is set when a stream's request is over."""

    def __init__(self) -> None:
        self.app = PondASGIApp(build_chat())
        self.pond = self.app.pond  # so pondctl's server closes it
        self.requests: list[tuple[str, int | None, int]] = []
        self.streams_ended = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = [scope["method"], None, len(self.app.sse_connections)]

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                record[1] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.requests.append((record[0], record[1], record[2]))
            if record[0] == "GET":
                self.streams_ended.set()


async def test_the_sdk_deletes_its_connection_before_closing_the_stream(start_server):
    recorder = Recorder()
    server = await start_server(recorder, pond_server=True)
    client = PondClient(server.http_url("/api/socket"), {"token": "ok"}, transport="sse")
    await client.connect(timeout=5)
    await client.close()
    async with asyncio.timeout(5):
        await recorder.streams_ended.wait()
    # The DELETE came while the stream was open (1 stream) and ended it: 204.
    assert ("DELETE", 204, 1) in recorder.requests
    assert [r for r in recorder.requests if r[0] == "DELETE"] == [("DELETE", 204, 1)]


async def test_a_delete_after_its_stream_ended_gets_204(start_server, sse_open, http_client):
    recorder = Recorder()
    server = await start_server(recorder, pond_server=True)
    stream = await sse_open(server, "/api/socket?token=ok")
    token = stream.token
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    await stream.response.aclose()  # the client drops its stream
    async with asyncio.timeout(5):
        await recorder.streams_ended.wait()
    url = server.http_url("/api/socket")

    late = await http_client.delete(url, headers={"x-connection-id": token})
    assert (late.status_code, late.text) == (204, "")
    # A POST on the ended connection still says it is gone, and so does a DELETE with a
    # token that never was.
    post = await http_client.post(url, headers={"x-connection-id": token}, content=b"{}")
    assert (post.status_code, post.text) == (404, "connection not found")
    unknown = await http_client.delete(url, headers={"x-connection-id": "never-issued"})
    assert (unknown.status_code, unknown.text) == (404, "connection not found")
    # The token is good for its own endpoint only, ended or not.
    other = await http_client.delete(server.http_url("/other"),
                                     headers={"x-connection-id": token})
    assert other.status_code == 404
