"""A client that stops reading is cut off (1013) without holding anyone else up, on every
server the project offers (``ws_server``)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from pondsocket import Options

pytestmark = pytest.mark.timeout(40)

# Incompressible, so that permessage-deflate cannot shrink it.
BLOB = base64.b64encode(os.urandom(48 * 1024)).decode()


def small_buffer_socket(port: int) -> socket.socket:
    """A connected client socket with a small receive window, so a client that stops reading
    fills the TCP buffers quickly."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def fast_and_stalled(ws_server: Any, ws_connect: Any, app: Any) -> tuple[Any, ...]:
    """Serve ``app`` with two clients in /room/1: ``fast`` reads, ``slow`` will stop
    reading. Returns them and the presence JOIN of slow that fast received."""
    server = await ws_server(app)
    fast = await ws_connect(server, "/api/socket?name=fast")
    await fast.join("/room/1")
    await fast.expect("PRESENCE", "JOIN", "/room/1")
    # max_queue=1: the websockets client stops reading the socket as soon as one message
    # waits for recv(), which the tests do not call while the server broadcasts.
    slow = await ws_connect(server, "/api/socket?name=slow", max_queue=1,
                            sock=small_buffer_socket(server.port), compression=None)
    await slow.join("/room/1")
    await slow.expect("PRESENCE", "JOIN", "/room/1")
    joined = await fast.expect("PRESENCE", "JOIN", "/room/1")
    return fast, slow, joined


async def test_stalled_client_is_closed_1013_and_fast_client_gets_everything(
        ws_server, ws_connect, chat_app):
    options = Options(send_channel_buffer=4, send_timeout=1.0)
    fast, slow, joined = await fast_and_stalled(ws_server, ws_connect, chat_app(options))
    assert joined["payload"] == {"presence": [{"name": "fast"}, {"name": "slow"}],
                                 "changed": {"name": "slow"}}

    # fast broadcasts big frames and reads each back, until the server reports that slow
    # left the room (its queue overflowed and it was closed)
    sent = 0
    left = None
    # Bounded in time, not frames: slow is cut off once its writes have waited send_timeout
    # (without permessage-deflate the frames go out fast, and that takes about 650 of them).
    deadline = asyncio.get_running_loop().time() + 15
    while left is None:
        assert asyncio.get_running_loop().time() < deadline, \
            "the stalled client was never cut off"
        await fast.send_msg("BROADCAST", "/room/1", "shout", {"i": sent, "blob": BLOB},
                            request_id=f"s{sent}")
        while True:
            frame = await fast.recv()
            if frame["action"] == "PRESENCE":
                assert frame["event"] == "LEAVE", frame
                assert frame["payload"] == {"presence": [{"name": "fast"}],
                                            "changed": {"name": "slow"}}
                left = sent
                continue
            assert (frame["event"], frame["payload"]["i"]) == ("shout", sent), frame
            break
        sent += 1

    # fast kept receiving everything, in order, and is still served
    await fast.send_msg("BROADCAST", "/room/1", "ping", {}, request_id="p")
    await fast.expect("SYSTEM", "pong", "/room/1", "p")

    # slow, reading again, finds an in-order prefix of the broadcasts, then the close 1013
    got = []
    with pytest.raises(ConnectionClosed):
        while True:
            frame = await slow.recv()
            assert frame["event"] == "shout", frame
            got.append(frame["payload"]["i"])
    assert got == list(range(len(got)))
    assert len(got) < sent
    assert await slow.closed() == (1013, "outbound queue overflow")


async def test_stalled_client_with_room_in_its_queue_is_closed_on_send_timeout(
        ws_server, ws_connect, chat_app):
    # A queue too big to overflow here: the write that never completes is what closes it.
    options = Options(send_channel_buffer=100_000, send_timeout=0.5)
    fast, slow, _ = await fast_and_stalled(ws_server, ws_connect, chat_app(options))

    # ~10 MB: more than the socket buffers between the server and the stalled client hold
    count = 150
    for i in range(count):
        await fast.send_msg("BROADCAST", "/room/1", "shout", {"i": i, "blob": BLOB},
                            request_id=f"s{i}")
        frame = await fast.expect("BROADCAST", "shout", "/room/1")
        assert frame["payload"]["i"] == i
    # the stalled write times out; the server forgets slow while it still is not reading
    await fast.expect("PRESENCE", "LEAVE", "/room/1", payload={
        "presence": [{"name": "fast"}], "changed": {"name": "slow"}})

    got = []
    with pytest.raises(ConnectionClosed):
        while True:
            got.append((await slow.recv())["payload"]["i"])
    assert got == list(range(len(got))) and len(got) < count
    assert await slow.closed() == (1013, "send timeout")


async def test_client_pipelining_faster_than_it_reads_is_slowed_down_not_closed(
        ws_server, ws_connect, chat_app):
    """docs/limits.md, "Reading pauses for slow readers": a client that sends requests
    faster than it reads the answers is not closed for overflowing its own (small) queue;
    the server stops reading its requests while the queue is half full, and every answer
    arrives, in order, once the client reads."""
    options = Options(send_channel_buffer=8, send_timeout=5.0)
    app = chat_app(options)
    server = await ws_server(app)
    client = await ws_connect(server, "/api/socket?name=greedy", max_queue=1,
                              sock=small_buffer_socket(server.port), compression=None)
    await client.join("/room/1")
    await client.expect("PRESENCE", "JOIN", "/room/1")
    transport = app.pond.endpoints[0].connections[client.user_id].transport

    # ~10 MB of answers: far more than the socket buffers hold while the client is not reading
    count = 150

    async def pipeline() -> None:
        for i in range(count):
            await client.send_msg("BROADCAST", "/room/1", "ping", {"i": i, "blob": BLOB},
                                  request_id=f"p{i}")

    sender = asyncio.get_running_loop().create_task(pipeline())
    try:
        # Not reading until the server has had to hold back (its queue half full) or every
        # request is out; neither has an event to await: a bounded poll.
        async with asyncio.timeout(20):
            while not sender.done() and transport.queue_depth * 2 < transport.queue_limit:
                await asyncio.sleep(0.01)
        for i in range(count):
            frame = await client.expect("SYSTEM", "pong", "/room/1", f"p{i}")
            assert frame["payload"]["echo"]["i"] == i
        await asyncio.wait_for(sender, 5)
    finally:
        sender.cancel()
    await client.send_msg("BROADCAST", "/room/1", "ping", {}, request_id="still-open")
    await client.expect("SYSTEM", "pong", "/room/1", "still-open", {"echo": {}})
    assert transport.dropped_frames == 0
