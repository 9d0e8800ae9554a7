"""``pondctl demo`` and ``pondctl serve`` as real processes: what their logs say, and what
they negotiate.

* Credentials in query strings never reach a log line (uvicorn's access log and its
  ``WebSocket /path?... [accepted]`` lines), for the default names and ``--redact-param``.
* A refused handshake is one info line, not an ``ERROR: ASGI callable returned without
  completing handshake``; an SSE client's disconnect is a ``DELETE`` 204.
* permessage-deflate is off unless ``--ws-per-message-deflate``.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from pondsocket_tools.client import PondClient
from tests.servers import HOST, ServerProcess

pytestmark = pytest.mark.timeout(90)

PONDCTL = str(Path(sys.executable).parent / "pondctl")
TIMEOUT = 5.0


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        await connect(url, open_timeout=TIMEOUT)
    return info.value.response.status_code


async def test_demo_logs_no_credentials_and_each_refusal_once(tmp_path):
    log = tmp_path / "demo.log"
    demo = ServerProcess([PONDCTL, "demo", "--port", "{port}", "--log-level", "info",
                          "--redact-param", "ticket"], log=log, what="pondctl demo")
    await demo.astart()
    base = f"{HOST}:{demo.port}"
    try:
        assert await refused_status(f"ws://{base}/api/socket?token=wrong-secret-1") == 401
        assert await refused_status(f"ws://{base}/nope?name=x&password=hunter2-2") == 404
        async with connect(f"ws://{base}/api/socket?token=demo&name=ada&ticket=tkt-secret-3",
                           open_timeout=TIMEOUT) as ws:
            assert "CONNECT" in await ws.recv()
        # An SSE client of the SDK: its stream and its disconnect.
        client = PondClient(f"http://{base}/api/socket",
                            {"token": "demo", "access_token": "sse-secret-4"}, transport="sse")
        await client.connect(timeout=TIMEOUT)
        await client.close()
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            health = await http.get(f"http://{base}/healthz?name=x&key=k-secret-5")
        assert health.status_code == 200
    finally:
        assert await demo.astop(signal.SIGINT) == 0  # Ctrl+C
    text = log.read_text()

    for secret in ("wrong-secret-1", "hunter2-2", "tkt-secret-3", "sse-secret-4",
                   "k-secret-5"):
        assert secret not in text, f"{secret!r} leaked into the log:\n{text}"
    lines = text.splitlines()
    # uvicorn's own lines, with the values replaced
    assert any('"WebSocket /api/socket?token=[redacted]" 401' in line for line in lines), text
    assert any('"WebSocket /nope?name=x&password=[redacted]" 404' in line for line in lines), text
    assert any("/api/socket?token=[redacted]&name=ada&ticket=[redacted]\" [accepted]" in line
               for line in lines), text
    assert any('"GET /healthz?name=x&key=[redacted] HTTP/1.1" 200' in line for line in lines), text
    # a refusal is one info line; nothing is an error
    assert "without completing handshake" not in text
    assert not [line for line in lines if line.startswith(("ERROR", "WARNING"))], text
    assert sum(" 401" in line for line in lines) == 1, text
    assert "connection rejected" not in text
    # the SDK's SSE disconnect: a DELETE answered 204, no 404
    deletes = [line for line in lines if '"DELETE ' in line]
    assert len(deletes) == 1 and 'HTTP/1.1" 204' in deletes[0], text


async def test_serve_offers_no_compression_unless_asked(tmp_path):
    for args, negotiated in (((), None),
                             (("--ws-per-message-deflate",), "permessage-deflate")):
        serve = ServerProcess([PONDCTL, "serve", "tests.asgi.serve_target:pond", "--port",
                               "{port}", "--log-level", "warning", *args],
                              log=tmp_path / "serve.log", what="pondctl serve")
        await serve.astart()
        try:
            # the websockets client offers permessage-deflate by default
            async with connect(f"ws://{HOST}:{serve.port}/ws", open_timeout=TIMEOUT) as ws:
                assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
                answer = ws.response.headers.get("Sec-WebSocket-Extensions")
                assert "CONNECT" in await ws.recv()
        finally:
            assert await serve.astop(signal.SIGINT) == 0
        if negotiated is None:
            assert answer is None, answer
        else:
            assert answer is not None and answer.startswith(negotiated), answer
