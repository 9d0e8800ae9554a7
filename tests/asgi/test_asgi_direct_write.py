"""The ASGI transport writes a frame at once when the server takes it without waiting, and
when a ``send`` does wait (the peer's buffer is full), the frames after it keep their order
and the queue bound.

The ASGI ``send`` here is a small stand-in for a server's: it records each message and
waits while a gate is closed, as uvicorn's does while the socket is paused. Over real
servers the same paths run in test_asgi_websocket.py and test_asgi_slow_consumer.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pondsocket import Options
from pondsocket.asgi import ASGIWebSocketTransport
from pondsocket.transport.base import CLOSE_TRY_AGAIN_LATER
from pondsocket.wire import Frame

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
