"""Save SVG screenshots of ``pondctl inspect`` against the demo under a little load.

    .venv/bin/python scripts/inspector_screenshots.py [OUTPUT_DIR]   # default docs/img

Starts ``pondctl demo --admin-token shots`` on a free port, connects a few chat clients that
join rooms, change their status and send messages, and saves the inspector's main screen,
its filtered event tail and the help screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

from pondsocket_tools.client import PondClient
from pondsocket_tools.inspector.api import AdminClient
from pondsocket_tools.inspector.app import InspectorApp

TOKEN = "shots"
SIZE = (120, 36)
NAMES = ["ada", "bob", "cleo", "dan", "eve", "finn"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_demo(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "pondctl"), "demo", "--port", str(port),
         "--admin-token", TOKEN], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("the demo did not start")


async def load(port: int, stop: asyncio.Event) -> None:
    clients = []
    try:
        rooms = []
        for i, name in enumerate(NAMES):
            client = PondClient(f"ws://127.0.0.1:{port}/api/socket",
                                {"token": "demo-mod" if i == 2 else "demo", "name": name})
            await client.connect()
            clients.append(client)
            rooms.append(await client.join("/chat/lobby"))
            if i % 2:
                rooms.append(await client.join("/chat/ops"))
        await rooms[1].send("status", {"status": "away"})
        tick = 0
        while not stop.is_set():
            room = rooms[tick % len(rooms)]
            await room.send("message", {"text": f"message {tick}"})
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05 + (tick % 7) * 0.03)
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_demo(port)
    stop = asyncio.Event()
    loader = asyncio.create_task(load(port, stop))
    try:
        app = InspectorApp(AdminClient(f"http://127.0.0.1:{port}/_pond/admin", TOKEN),
                           poll_interval=1.0)
        async with app.run_test(size=SIZE) as pilot:
            deadline = time.monotonic() + 25
            while (len(app.rates) < 12 or sum(1 for r in app.rates if r) < 8
                   or len(app.visible_events) < 20) and time.monotonic() < deadline:
                await pilot.pause(0.2)
            app.select_channel("/api/socket", "/chat/lobby")
            await pilot.pause(1.0)
            app.save_screenshot("inspector-main.svg", str(out))
            await pilot.press("slash", *"ops")
            await pilot.press("escape")
            app.select_channel("/api/socket", "/chat/ops")
            await pilot.pause(1.0)
            app.save_screenshot("inspector-filter.svg", str(out))
            await pilot.press("question_mark")
            await pilot.pause(0.3)
            app.save_screenshot("inspector-help.svg", str(out))
    finally:
        stop.set()
        await loader
        proc.kill()
        proc.wait(5)
    print(f"saved to {out}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")))
