"""``pondctl serve --admin-token``: the admin API of a PondSocket TARGET, on the main port
under uvicorn and on ``--admin-port`` beside the direct server (a uvicorn server in the same
process, reading the same PondSocket): documents, the live event stream (SSE), write actions
with a request body, the health check; a clean SIGTERM with an event stream open."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.servers import ServerProcess, await_port, free_port

pytestmark = pytest.mark.timeout(60)

APP = """\
from pondsocket import PondSocket
from pondsocket.asgi import PondASGIApp

pond = PondSocket()


async def accept(ctx):
    ctx.accept()


async def join(ctx):
    await ctx.accept()


pond.create_endpoint("/ws", accept).create_channel("/room/:id", join)
app = PondASGIApp(pond)
"""
TOKEN = "s3cret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP)
    return tmp_path


def pondctl(app_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pondsocket_tools.cli", "serve", *args],
                          cwd=app_dir, capture_output=True, text=True, timeout=30)


async def join(port: int, channel: str) -> tuple[ClientConnection, str]:
    ws = await connect(f"ws://127.0.0.1:{port}/ws")
    connected = json.loads(await asyncio.wait_for(ws.recv(), 10))
    await ws.send(json.dumps({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                              "channelName": channel, "requestId": "j", "payload": {}}))
    ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert (ack["action"], ack["event"]) == ("SYSTEM", "ACKNOWLEDGE"), ack
    return ws, connected["payload"]["id"]


async def next_event(lines: Any) -> dict[str, Any]:
    """The next ``data:`` line of an SSE stream, as JSON."""
    async with asyncio.timeout(10):
        async for line in lines:
            if line.startswith("data: "):
                document: dict[str, Any] = json.loads(line[len("data: "):])
                return document
    raise AssertionError("the event stream ended")


@pytest.mark.parametrize("kind", ["websockets", "uvicorn"])
async def test_the_admin_api_is_served_for_either_server(app_dir: Path, kind: str) -> None:
    admin_port = free_port()
    extra = ["--admin-port", str(admin_port)] if kind == "websockets" else []
    server = ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve", "app:pond",
                            "--server", kind, "--port", "{port}", "--admin-token", TOKEN,
                            "--admin-writes", *extra], cwd=app_dir,
                           log=app_dir / "serve.log", what=f"pondctl serve {kind}")
    server.start()
    if kind == "uvicorn":
        admin_port = server.port
    base = f"http://127.0.0.1:{admin_port}/_pond/admin"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            if kind == "websockets":  # the admin port listens just after the main one
                await await_port(admin_port, server.proc, what="the admin server",
                                 log=app_dir / "serve.log")
            assert (await http.get(f"{base}/overview")).status_code == 401
            async with http.stream("GET", f"{base}/events", headers={
                    **AUTH, "accept": "text/event-stream"}) as events:
                assert events.status_code == 200
                lines = events.aiter_lines()
                async with asyncio.timeout(10):
                    async for line in lines:
                        if line == ": subscribed":
                            break
                ws, user_id = await join(server.port, "/room/1")
                event = await next_event(lines)
                assert (event["type"], event["channel"], event["user_id"]) == (
                    "join", "/room/1", user_id)
                overview = await http.get(f"{base}/overview", headers=AUTH)
                assert overview.status_code == 200
                channel = (await http.get(f"{base}/channels/%2Froom%2F1",
                                          headers=AUTH)).json()
                assert [m["user_id"] for m in channel["members"]] == [user_id]
                evicted = await http.post(f"{base}/channels/%2Froom%2F1/evict", headers=AUTH,
                                          json={"user_id": user_id, "reason": "spam"})
                assert evicted.status_code == 200 and evicted.json()["evicted"] is True
                frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                assert (frame["event"], frame["payload"]) == ("EVICTED", {"reason": "spam"})
                health = await http.get(f"http://127.0.0.1:{admin_port}/healthz")
                if kind == "websockets":
                    assert health.status_code == 200 and health.json()["status"] == "ok"
                    other = await http.get(f"http://127.0.0.1:{admin_port}/ws")
                    assert other.status_code == 404
                await ws.close()
                # SIGTERM with the event stream still open: it ends, the process stops
                assert server.proc is not None
                server.proc.send_signal(signal.SIGTERM)
                status = await asyncio.to_thread(server.proc.wait, 15)
    finally:
        server.stop()
    log = (app_dir / "serve.log").read_text()
    if kind == "websockets":
        assert status == 0
        assert f"admin API on http://127.0.0.1:{admin_port}/_pond/admin" in log
    else:  # uvicorn shuts down cleanly, then re-raises the signal it caught
        assert status == -signal.SIGTERM and "Finished server process" in log


@pytest.mark.parametrize(("args", "message"), [
    (["app:pond", "--admin-writes"], "--admin-writes needs --admin-token"),
    (["app:pond", "--admin-port", "9"], "--admin-port needs --server websockets"),
    (["app:app", "--admin-token", TOKEN], "pass AdminOptions to its PondASGIApp instead"),
])
def test_admin_options_that_cannot_work_are_refused(app_dir: Path, args: list[str],
                                                    message: str) -> None:
    result = pondctl(app_dir, *args)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
