"""Compress-once on the ASGI path, under pondctl serve's WebSocket protocol.

With ``--ws-per-message-deflate``, :class:`~pondsocket.asgi.uvicorn.PondWebSocketProtocol`
negotiates permessage-deflate without context takeover and writes each broadcast's shared
frame (``pondsocket.send_frame_now``): one compression per broadcast, the same bytes for every
recipient that offered deflate, plain frames for those that did not. Real clients decode them.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pondsocket.asgi import PondASGIApp
from pondsocket.wsframes import SharedDeflate
from tests.servers import start_pondctl_uvicorn
from tests.wsserver.test_compress_once import CHANNEL, RawClient, Served, text


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    servers = Served(lambda pond, **config: start_pondctl_uvicorn(PondASGIApp(pond), **config))
    yield servers
    await servers.close()


async def test_one_shared_compressed_frame_per_broadcast(
        served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    compressions = 0
    real = SharedDeflate.payload

    def counting(self: SharedDeflate, data: bytes) -> tuple[int, bytes]:
        nonlocal compressions
        compressions += 1
        return real(self, data)

    server = await served(ws_per_message_deflate=True)
    raw = [await RawClient.open(server.port, "permessage-deflate; client_max_window_bits")
           for _ in range(2)]
    try:
        for client in raw:
            assert "server_no_context_takeover" in client.extensions, client.extensions
            await client.join()
        sender = await served.client(server)  # the websockets client, offering deflate
        plain = await served.client(server, compression=None)
        monkeypatch.setattr(SharedDeflate, "payload", counting)
        for i in range(3):
            payload = {"text": text(2048, i)}
            await sender.send_msg("BROADCAST", CHANNEL, "say", payload)
            frames = [await client.frame() for client in raw]
            assert len({f[1] for f in frames}) == 1, "every recipient gets the same bytes"
            first, body = frames[0]
            assert first == 0xC1, hex(first)  # FIN, RSV1 (compressed), text
            inflated = json.loads(zlib.decompressobj(wbits=-15).decompress(
                body + b"\x00\x00\xff\xff"))
            assert inflated["payload"] == payload
            await sender.expect("BROADCAST", "said", CHANNEL, payload=payload)
            await plain.expect("BROADCAST", "said", CHANNEL, payload=payload)
        assert compressions == 3, "one compression per broadcast, not one per recipient"
    finally:
        for client in raw:
            client.close()


async def test_without_the_option_nothing_is_compressed(served: Any) -> None:
    server = await served()
    client = await served.client(server)  # offers deflate: declined
    assert "Sec-WebSocket-Extensions" not in client.ws.response.headers
    payload = {"text": text(2048, 0)}
    await client.send_msg("BROADCAST", CHANNEL, "say", payload)
    await client.expect("BROADCAST", "said", CHANNEL, payload=payload)
