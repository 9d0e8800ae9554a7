"""``pondctl serve`` and ``pondctl demo``: bad targets, and real server processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from pondsocket_tools.cli import main
from tests.servers import ServerProcess

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PONDCTL = Path(sys.executable).parent / "pondctl"
TIMEOUT = 5.0


@pytest.mark.parametrize(("target", "message"), [
    ("no_colon", "expected MODULE:ATTRIBUTE (for example app:pond), got 'no_colon'"),
    (":pond", "expected MODULE:ATTRIBUTE"),
    ("no_such_module_xyz:pond", "cannot import module 'no_such_module_xyz'"),
    ("tests.asgi.no_such_module:pond", "cannot import module 'tests.asgi.no_such_module'"),
    ("tests.asgi.serve_target:missing",
     "module 'tests.asgi.serve_target' has no attribute 'missing'"),
    ("tests.asgi.serve_target:NOT_AN_APP", "int is neither a PondSocket nor an ASGI app"),
])
def test_serve_bad_target(monkeypatch, target, message):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["serve", target])
    assert result.exit_code == 2, result.output
    assert "Invalid value for TARGET" in result.output
    assert message in " ".join(result.output.split())  # rich/click may wrap lines
    assert "Traceback" not in result.output


@contextlib.asynccontextmanager
async def pondctl(tmp_path: Path, *args: str) -> AsyncIterator[tuple[int, ServerProcess]]:
    """Run ``pondctl <args> --port <free>``; yields once it accepts TCP connections."""
    server = ServerProcess([str(PONDCTL), *args, "--port", "{port}"],
                           log=tmp_path / "pondctl.log", what="pondctl")
    await server.astart()
    try:
        yield server.port, server
    finally:
        server.stop(signal.SIGKILL)


async def stop(server: ServerProcess) -> int | None:
    """Ctrl+C; the exit status (killed after 15 s)."""
    return await server.astop(signal.SIGINT, 15)


async def recv(ws: ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def send(ws: ClientConnection, action: str, channel: str, event: str, payload: dict,
               request_id: str) -> None:
    await ws.send(json.dumps({"action": action, "event": event, "channelName": channel,
                              "requestId": request_id, "payload": payload}))


async def test_pondctl_demo(tmp_path):
    async with pondctl(tmp_path, "demo") as (port, proc):
        url = f"ws://127.0.0.1:{port}/api/socket"
        with pytest.raises(InvalidStatus) as info:
            await connect(f"{url}?token=nope", open_timeout=TIMEOUT)
        assert info.value.response.status_code == 401
        assert info.value.response.body == b"Invalid token: connect with ?token=demo"

        ws = await connect(f"{url}?token=demo&name=ada", open_timeout=TIMEOUT)
        connect_frame = await recv(ws)
        assert (connect_frame["action"], connect_frame["event"]) == ("CONNECT", "CONNECTION")

        await send(ws, "JOIN_CHANNEL", "/chat/lobby", "JOIN_CHANNEL", {}, "join-1")
        assert await recv(ws) == {"action": "SYSTEM", "event": "ACKNOWLEDGE",
                                  "channelName": "/chat/lobby", "requestId": "join-1",
                                  "payload": {}}
        presence = await recv(ws)
        ada = {"name": "ada", "status": "online", "role": "member"}
        assert (presence["action"], presence["event"]) == ("PRESENCE", "JOIN")
        assert presence["payload"] == {"presence": [ada], "changed": ada}

        await send(ws, "BROADCAST", "/chat/lobby", "ping", {"n": 7}, "ping-1")
        pong = await recv(ws)
        assert (pong["action"], pong["event"], pong["requestId"]) == ("SYSTEM", "pong", "ping-1")
        assert pong["payload"]["echo"] == {"n": 7}
        assert isinstance(pong["payload"]["time"], float)

        # Ctrl+C: the connected client is closed with 1001 (no EVICTED: it may reconnect and
        # rejoin), and pondctl exits 0
        assert await stop(proc) == 0
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert ws.protocol.close_rcvd.code == 1001


async def test_pondctl_serve_pondsocket_object(tmp_path):
    async with pondctl(tmp_path, "serve", "tests.asgi.serve_target:pond",
                       "--log-level", "warning") as (port, proc):
        url = f"ws://127.0.0.1:{port}/ws"
        ws = await connect(url, open_timeout=TIMEOUT)
        assert (await recv(ws))["action"] == "CONNECT"
        await send(ws, "JOIN_CHANNEL", "/echo/1", "JOIN_CHANNEL", {}, "j")
        assert (await recv(ws))["event"] == "ACKNOWLEDGE"
        await send(ws, "BROADCAST", "/echo/1", "say", {"hello": "world"}, "s")
        said = await recv(ws)
        assert (said["action"], said["event"], said["payload"]) == (
            "BROADCAST", "said", {"hello": "world"})

        # limits follow the PondSocket: 413 up to 4x max_message_size, 1009 beyond
        await send(ws, "BROADCAST", "/echo/1", "say", {"x": "y" * 2000}, "big")
        error = await recv(ws)
        assert (error["action"], error["event"], error["payload"]["code"]) == (
            "ERROR", "INVALID_MESSAGE", 413)
        await send(ws, "BROADCAST", "/echo/1", "say", {"x": "y" * 5000}, "huge")
        await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
        assert ws.protocol.close_rcvd.code == 1009

        with pytest.raises(InvalidStatus) as info:
            await connect(f"ws://127.0.0.1:{port}/nope", open_timeout=TIMEOUT)
        assert info.value.response.status_code == 404
        assert await stop(proc) == 0
