"""``pondctl serve --server websockets``: the direct server from the command line, as a user
runs it (docs/cli.md): it serves a PondSocket with its health check, stops cleanly on
SIGTERM, exits 3 when it cannot bind, and refuses what it cannot serve with a clear error."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.servers import ServerProcess

APP = """\
from pondsocket import PondSocket
from pondsocket.asgi import PondASGIApp

pond = PondSocket()


async def accept(ctx):
    ctx.accept()


pond.create_endpoint("/ws", accept)
app = PondASGIApp(pond)
"""


def pondctl(app_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pondsocket_tools.cli", "serve", *args],
                          cwd=app_dir, capture_output=True, text=True, timeout=30)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


async def test_a_pond_served_by_uvicorn_has_the_same_health_check(app_dir: Path) -> None:
    server = ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve", "app:pond",
                            "--port", "{port}"], cwd=app_dir, log=app_dir / "serve.log",
                           what="pondctl serve")
    server.start()
    try:
        async with httpx.AsyncClient() as http:
            health = await http.get(f"http://127.0.0.1:{server.port}/healthz")
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
    finally:
        server.stop()


async def test_the_direct_server_serves_a_pond_and_stops_on_sigterm(app_dir: Path) -> None:
    server = ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve", "app:pond",
                            "--server", "websockets", "--port", "{port}"], cwd=app_dir,
                           log=app_dir / "serve.log", what="pondctl serve --server websockets")
    server.start()
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert (frame["action"], frame["event"]) == ("CONNECT", "CONNECTION")
            assert ws.protocol.extensions == []  # no compression unless asked for
            async with httpx.AsyncClient() as http:
                health = await http.get(f"http://127.0.0.1:{server.port}/healthz")
            assert health.status_code == 200
            assert health.headers["content-type"] == "application/json"
            assert health.json()["connections"] == 1
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0
    finally:
        server.stop()
    assert "serving ws://127.0.0.1" in (app_dir / "serve.log").read_text()


async def test_ws_per_message_deflate_negotiates_compress_once(app_dir: Path) -> None:
    server = ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve", "app:pond",
                            "--server", "websockets", "--port", "{port}",
                            "--ws-per-message-deflate"], cwd=app_dir,
                           log=app_dir / "serve.log", what="pondctl serve --server websockets")
    await server.astart()
    try:
        async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:  # offers deflate
            frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert frame["action"] == "CONNECT"
            answer = ws.response.headers["Sec-WebSocket-Extensions"]
            assert answer.startswith("permessage-deflate"), answer
            assert "server_no_context_takeover" in answer  # one compression per broadcast
    finally:
        await server.astop()


def test_an_asgi_target_is_refused_with_the_reason(app_dir: Path) -> None:
    result = pondctl(app_dir, "app:app", "--server", "websockets")
    assert result.returncode == 2
    assert "serves a PondSocket directly" in result.stderr
    assert "SSE needs the ASGI server" in " ".join(result.stderr.split())


@pytest.mark.parametrize("option", [["--reload"], ["--max-headers", "10"]])
def test_options_of_the_uvicorn_server_are_refused(app_dir: Path, option: list[str]) -> None:
    result = pondctl(app_dir, "app:pond", "--server", "websockets", *option)
    assert result.returncode == 2
    assert "--server uvicorn" in result.stderr


def test_a_port_already_bound_exits_3(app_dir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = pondctl(app_dir, "app:pond", "--server", "websockets", "--port", str(port))
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "cannot start" in result.stderr
