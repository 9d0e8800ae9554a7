"""Compress-once on the direct server: one compressed frame serves every recipient.

``serve(..., compression="compress-once")`` negotiates permessage-deflate without server
context takeover, so each message is compressed on its own and the same bytes go to every
connection with the same parameters. Checked with real clients decoding what they get: the
``websockets`` client (offering deflate, or not), and a raw socket client that reads the frame
bytes themselves (RSV1, the compressed payload) and inflates them with zlib.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

import pondsocket.wsserver
from pondsocket import ConnectionContext, EventContext, JoinContext, PondSocket
from pondsocket.wsframes import SharedDeflate
from pondsocket.wsserver import PondWebSocketsServer
from tests.servers import start_direct
from tests.wsclient import TIMEOUT, WSClient, close_all, open_client

CHANNEL = "/room/1"
# Words, like chat text: compresses about 2x, as real payloads do.
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "kappa", "lambda",
         "sigma", "omega"]


def text(size: int, seed: int) -> str:
    out, i = [], seed
    while sum(len(w) + 1 for w in out) < size:
        out.append(WORDS[(i * 7 + len(out) * 3) % len(WORDS)])
        i += 1
    return " ".join(out)[:size]


def build_pond() -> PondSocket:
    pond = PondSocket()

    async def accept(ctx: ConnectionContext) -> None:
        ctx.accept()

    async def join(ctx: JoinContext) -> None:
        await ctx.accept()

    async def relay(ctx: EventContext) -> None:
        await ctx.broadcast("said", ctx.payload)

    endpoint = pond.create_endpoint("/ws", accept)
    endpoint.create_channel("/room/:id", join).on_message("say", relay)
    return pond


class Served:
    """Servers of :func:`build_pond` started by ``starter`` (``await served(**kwargs)``) and
    joined clients (``await served.client(server)``); :meth:`close` stops them all, clients
    first."""

    def __init__(self, starter: Callable[..., Awaitable[Any]]) -> None:
        self.starter = starter
        self.servers: list[Any] = []
        self.clients: list[WSClient] = []

    async def __call__(self, **kwargs: Any) -> Any:
        server = await self.starter(build_pond(), **kwargs)
        self.servers.append(server)
        return server

    async def client(self, server: Any, **kwargs: Any) -> WSClient:
        ws = await open_client(server, "/ws", **kwargs)
        self.clients.append(ws)
        await ws.join(CHANNEL)
        return ws

    async def close(self) -> None:
        await close_all(self.clients)
        for server in self.servers:
            await server.stop()


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    servers = Served(start_direct)
    yield servers
    await servers.close()


class RawClient:
    """A WebSocket client on a bare socket: the server's frames exactly as sent."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 extensions: str) -> None:
        self.reader, self.writer, self.extensions = reader, writer, extensions

    @classmethod
    async def open(cls, port: int, offer: str | None) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        head = (f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n")
        if offer:
            head += f"Sec-WebSocket-Extensions: {offer}\r\n"
        writer.write((head + "\r\n").encode())
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert response.startswith(b"HTTP/1.1 101"), response
        extensions = ""
        for line in response.decode().split("\r\n"):
            if line.lower().startswith("sec-websocket-extensions:"):
                extensions = line.split(":", 1)[1].strip()
        client = cls(reader, writer, extensions)
        await client.frame()  # CONNECT
        return client

    async def frame(self) -> tuple[int, bytes]:
        """The next frame: its first header byte and its payload as sent."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), TIMEOUT)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first, await self.reader.readexactly(length)

    async def message(self) -> dict[str, Any]:
        """The next frame decoded as a permessage-deflate receiver does."""
        first, payload = await self.frame()
        if first & 0x40:
            payload = zlib.decompressobj(wbits=-15).decompress(payload + b"\x00\x00\xff\xff")
        return json.loads(payload)

    async def send(self, frame: dict[str, Any]) -> None:
        data, mask = json.dumps(frame).encode(), os.urandom(4)
        assert len(data) < 126
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.writer.write(bytes([0x81, 0x80 | len(data)]) + mask + masked)

    async def join(self) -> None:
        await self.send({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                         "channelName": CHANNEL, "requestId": "j", "payload": {}})
        ack = await self.message()
        assert (ack["event"], ack["requestId"]) == ("ACKNOWLEDGE", "j"), ack

    def close(self) -> None:
        self.writer.close()


async def test_deflate_clients_get_one_compressed_frame_that_decodes(served: Any) -> None:
    server = await served(compression="compress-once")
    raw = [await RawClient.open(server.port, "permessage-deflate; client_max_window_bits")
           for _ in range(3)]
    try:
        for client in raw:
            assert client.extensions.startswith("permessage-deflate"), client.extensions
            assert "server_no_context_takeover" in client.extensions
            await client.join()
        sender = await served.client(server)
        payload = {"text": text(2048, 1)}
        await sender.send_msg("BROADCAST", CHANNEL, "say", payload)
        frames = [await client.frame() for client in raw]
        assert len({bytes(f[1]) for f in frames}) == 1, "every recipient gets the same bytes"
        first, body = frames[0]
        assert first == 0xC1, hex(first)  # FIN, RSV1 (compressed), text
        assert len(body) < 1500, "2 KB of words compress"
        inflated = json.loads(zlib.decompressobj(wbits=-15).decompress(
            body + b"\x00\x00\xff\xff"))
        assert (inflated["event"], inflated["payload"]) == ("said", payload)
        await sender.expect("BROADCAST", "said", CHANNEL, payload=payload)
    finally:
        for client in raw:
            client.close()


async def test_one_compression_per_broadcast_whatever_the_recipients(
        served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    compressions = 0
    real = SharedDeflate.payload

    def counting(self: SharedDeflate, data: bytes) -> tuple[int, bytes]:
        nonlocal compressions
        compressions += 1
        return real(self, data)

    server = await served(compression="compress-once")
    clients = [await served.client(server) for _ in range(5)]  # websockets offers deflate
    assert all("server_no_context_takeover" in c.ws.response.headers["Sec-WebSocket-Extensions"]
               for c in clients)
    monkeypatch.setattr(SharedDeflate, "payload", counting)
    for i in range(4):
        payload = {"text": text(2048, i)}
        await clients[0].send_msg("BROADCAST", CHANNEL, "say", payload)
        for client in clients:  # each decodes it (websockets inflates)
            await client.expect("BROADCAST", "said", CHANNEL, payload=payload)
    assert compressions == 4, "one compression per broadcast, not one per recipient"


async def test_clients_that_do_not_offer_deflate_get_plain_frames(served: Any) -> None:
    server = await served(compression="compress-once")
    deflating = await served.client(server)
    plain = await served.client(server, compression=None)
    raw = await RawClient.open(server.port, None)
    try:
        assert raw.extensions == ""
        await raw.join()
        payload = {"text": text(4096, 3)}
        await deflating.send_msg("BROADCAST", CHANNEL, "say", payload)
        first, body = await raw.frame()
        assert first == 0x81, hex(first)  # FIN, text, not compressed
        assert json.loads(body)["payload"] == payload
        await plain.expect("BROADCAST", "said", CHANNEL, payload=payload)
        await deflating.expect("BROADCAST", "said", CHANNEL, payload=payload)
    finally:
        raw.close()


async def test_other_window_sizes_each_get_their_own_shared_frame(served: Any) -> None:
    server = await served(compression="compress-once")
    small = ClientPerMessageDeflateFactory(server_max_window_bits=9)
    clients = [await served.client(server, extensions=[small]) for _ in range(2)]
    clients += [await served.client(server) for _ in range(2)]
    assert "server_max_window_bits=9" in clients[0].ws.response.headers[
        "Sec-WebSocket-Extensions"]
    for i in range(3):
        payload = {"text": text(16384, i)}  # longer than a 512-byte window
        await clients[2].send_msg("BROADCAST", CHANNEL, "say", payload)
        for client in clients:
            await client.expect("BROADCAST", "said", CHANNEL, payload=payload)


async def test_frames_that_wait_in_the_queue_are_the_same_shared_bytes(
        served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every write takes the slow path (queue and writer task): order and content hold.
    monkeypatch.setattr(pondsocket.wsserver, "WRITE_HIGH_WATER", -1)
    server = await served(compression="compress-once")
    clients = [await served.client(server), await served.client(server, compression=None)]
    payloads = [{"text": text(2048, i), "i": i} for i in range(30)]
    for payload in payloads:
        await clients[0].send_msg("BROADCAST", CHANNEL, "say", payload)
    for client in clients:
        for payload in payloads:
            await client.expect("BROADCAST", "said", CHANNEL, payload=payload)


async def test_per_recipient_deflate_still_works(served: Any) -> None:
    server = await served(compression="deflate")  # websockets' own, with context takeover
    clients = [await served.client(server) for _ in range(2)]
    assert "server_no_context_takeover" not in clients[0].ws.response.headers[
        "Sec-WebSocket-Extensions"]
    for i in range(3):
        payload = {"text": text(2048, i)}
        await clients[0].send_msg("BROADCAST", CHANNEL, "say", payload)
        for client in clients:
            await client.expect("BROADCAST", "said", CHANNEL, payload=payload)


def test_an_unknown_compression_mode_is_refused_with_the_choices() -> None:
    app = PondWebSocketsServer(PondSocket())
    with pytest.raises(ValueError, match=r"compression must be one of .*'compress-once'.*'gzip'"):
        app.listen("127.0.0.1", 0, compression="gzip")
