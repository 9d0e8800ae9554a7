"""The ASGI transport writes a frame at once when the server takes it without waiting, and
when a ``send`` does wait (the peer's buffer is full), the frames after it keep their order
and the queue bound.

The ASGI ``send`` of the first tests is a small stand-in for a server's: it records each
message and waits while a gate is closed, as uvicorn's does while the socket is paused. The
last ones run real uvicorn servers: with ``pondctl serve``'s WebSocket protocol, frames are
written through its ``SEND_TEXT_NOW`` extension and never as ASGI messages; with uvicorn's
own, through the ASGI ``send``. The slow-peer paths over real servers are in
test_asgi_slow_consumer.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pondsocket import Options
from pondsocket.asgi import ASGIWebSocketTransport, PondASGIApp
from pondsocket.asgi.scope import SEND_TEXT_NOW
from pondsocket.transport.base import CLOSE_TRY_AGAIN_LATER
from pondsocket.wire import Frame
from tests.servers import start_pondctl_uvicorn

pytestmark = pytest.mark.timeout(10)


class GatedSend:
    """An ASGI ``send`` that waits while ``gate`` is clear (a paused socket)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.gate.set()
        self.sent: list[str] = []
        self.fail: Exception | None = None

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        if message["type"] == "websocket.send":
            self.sent.append(message["text"])


def frame(n: int) -> Frame:
    return Frame(f'{{"n":{n}}}'.encode())


async def test_a_send_that_does_not_wait_needs_no_writer_task() -> None:
    send = GatedSend()
    transport = ASGIWebSocketTransport(id="a", send=send)
    tasks = len(asyncio.all_tasks())
    for n in range(3):
        assert transport.send_frame(frame(n))
    # written in the caller's step: no task was woken, none is kept for the idle connection
    assert send.sent == ['{"n":0}', '{"n":1}', '{"n":2}']
    assert len(asyncio.all_tasks()) == tasks and transport.frames_sent == 3


async def test_frames_after_a_waiting_send_keep_their_order() -> None:
    send = GatedSend()
    transport = ASGIWebSocketTransport(id="a", send=send)
    send.gate.clear()  # the peer stopped reading
    for n in range(5):
        assert transport.send_frame(frame(n))
    assert send.sent == [] and transport.queue_depth == 4  # one waiting, four behind it
    send.gate.set()
    await transport.drain()
    assert send.sent == [f'{{"n":{n}}}' for n in range(5)]
    assert transport.send_frame(frame(5))  # back to writing at once
    assert send.sent[-1] == '{"n":5}'


async def test_the_queue_bound_holds_behind_a_waiting_send() -> None:
    send = GatedSend()
    transport = ASGIWebSocketTransport(id="a", send=send)
    transport.configure(Options(send_channel_buffer=4))
    send.gate.clear()
    results = [transport.send_frame(frame(n)) for n in range(6)]
    assert results == [True] * 5 + [False]  # one waiting + 4 queued, the 6th overflows
    assert transport.close_code == CLOSE_TRY_AGAIN_LATER
    send.gate.set()
    await asyncio.wait_for(transport.wait_closed(), 5)


async def test_a_send_failing_at_once_closes_the_connection() -> None:
    send = GatedSend()
    send.fail = OSError("peer gone")
    transport = ASGIWebSocketTransport(id="a", send=send)
    closed: list[str] = []

    async def on_close(t: Any) -> None:
        closed.append(t.id)

    transport.on_close(on_close)
    transport.send_frame(frame(0))
    assert not transport.is_active()
    await asyncio.wait_for(transport.wait_closed(), 5)
    assert closed == ["a"]


async def test_a_waiting_send_that_fails_closes_the_connection() -> None:
    send = GatedSend()
    transport = ASGIWebSocketTransport(id="a", send=send)
    send.gate.clear()
    transport.send_frame(frame(0))
    send.fail = OSError("peer gone")
    send.gate.set()
    await asyncio.wait_for(transport.wait_closed(), 5)
    assert not transport.is_active() and send.sent == []


class CountingApp:
    """``PondASGIApp`` with the ASGI ``websocket.send`` messages it sends counted."""

    def __init__(self, app: PondASGIApp) -> None:
        self.app = app
        self.sends = 0
        self.offered: list[bool] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            self.offered.append(SEND_TEXT_NOW in (scope.get("extensions") or {}))

        async def counting_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                self.sends += 1
            await send(message)

        await self.app(scope, receive, counting_send)


async def shout_and_hear(server: Any, ws_connect: Any) -> None:
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await ada.send_msg("BROADCAST", "/room/1", "shout", {"text": "hi"})
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"text": "hi"})


async def test_pondctl_uvicorn_frames_skip_the_asgi_send(started_servers, ws_connect,
                                                        chat_app):
    app = CountingApp(chat_app())
    server = await start_pondctl_uvicorn(app)
    started_servers.append(server)  # stopped at the end, after the clients closed
    await shout_and_hear(server, ws_connect)
    # CONNECT, ACKNOWLEDGE, the presence JOIN and the shout: none as an ASGI message
    assert app.offered == [True] and app.sends == 0


async def test_without_the_extension_frames_go_through_the_asgi_send(start_server, ws_connect,
                                                                     chat_app):
    app = CountingApp(chat_app())
    server = await start_server(app)  # uvicorn's own WebSocket protocol
    await shout_and_hear(server, ws_connect)
    assert app.offered == [False] and app.sends == 4
