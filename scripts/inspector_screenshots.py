"""Save SVG screenshots of ``pondctl inspect`` against the demo under a little load.

    .venv/bin/python scripts/inspector_screenshots.py [OUTPUT_DIR]   # default docs/img

Starts ``pondctl demo --admin-token shots`` on a free port (two of them sharing a throwaway
``redis-server`` when one is installed, so the screens show a cluster), connects a few chat
clients to them that join rooms, change their status and send messages in waves, and saves
the inspector's screens: ``inspector-main`` (a channel and the event tail),
``inspector-filter`` (following a channel, with a text filter), ``inspector-connections``,
``inspector-nodes``, ``inspector-details`` (a member found with ``/`` and its details),
``inspector-confirm`` (evicting a member) and ``inspector-help``.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pondsocket_tools.client import PondClient
from pondsocket_tools.inspector.api import AdminClient
from pondsocket_tools.inspector.app import InspectorApp
from pondsocket_tools.inspector.views import RatesPanel

TOKEN = "shots"
SIZE = (120, 36)
NAMES = ["ada", "bob", "cleo", "dan", "eve", "finn"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(proc: subprocess.Popen[bytes], port: int, what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{what} did not start")


def start(args: list[str], port: int, what: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(proc, port, what)
    return proc


def start_servers() -> tuple[list[int], list[subprocess.Popen[bytes]]]:
    """The demo's ports and processes: two cluster nodes (and their Redis) when
    ``redis-server`` is installed, else one demo."""
    pondctl = str(Path(sys.executable).parent / "pondctl")
    procs: list[subprocess.Popen[bytes]] = []
    extra: list[str] = []
    nodes = 1
    redis = shutil.which("redis-server")
    if redis:
        redis_port = free_port()
        procs.append(start([redis, "--port", str(redis_port), "--save", "",
                            "--appendonly", "no"], redis_port, "redis-server"))
        extra, nodes = ["--redis", f"redis://127.0.0.1:{redis_port}"], 2
    ports = [free_port() for _ in range(nodes)]
    for port in ports:
        procs.append(start([pondctl, "demo", "--port", str(port), "--admin-token", TOKEN,
                            "--log-level", "critical", *extra], port, "pondctl demo"))
    return ports, procs


async def load(ports: list[int], stop: asyncio.Event) -> None:
    clients = []
    try:
        rooms = []
        for i, name in enumerate(NAMES):
            port = ports[i * len(ports) // len(NAMES)]  # the last ones on the other node
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
            # Waves: busier for 5 s out of every 15, so the sparklines have a shape.
            busy = int(time.monotonic() / 5) % 3 == 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.03 if busy else 0.12 + (tick % 5) * 0.03)
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ports, procs = start_servers()
    stop = asyncio.Event()
    loader = asyncio.create_task(load(ports, stop))
    try:
        app = InspectorApp(AdminClient(f"http://127.0.0.1:{ports[0]}/_pond/admin", TOKEN),
                           poll_interval=1.0)
        async with app.run_test(size=SIZE) as pilot:
            rates = app.query_one(RatesPanel).broadcasts
            deadline = time.monotonic() + 40
            while (len(rates) < 30 or len(app.visible_events) < 20) \
                    and time.monotonic() < deadline:
                await pilot.pause(0.2)

            async def shot(name: str, *keys: str, wait: float = 1.0) -> None:
                await pilot.press(*keys)
                await pilot.pause(wait)
                app.save_screenshot(f"inspector-{name}.svg", str(out))

            app.select_channel("/api/socket", "/chat/lobby")
            await shot("main")
            await shot("connections", "2", wait=1.5)
            await shot("nodes", "3")
            await pilot.press("1", "slash", *"bob", "enter")  # find bob in the members
            app.query_one("#members").focus()
            await shot("details", "enter", wait=0.5)
            await pilot.press("escape", "escape")  # close the details, clear the filter
            app.select_channel("/api/socket", "/chat/ops")
            await pilot.press("f")
            app.query_one("#events").focus()  # / filters the focused pane: the events
            await shot("filter", "slash", *"message", "enter", wait=2.0)
            app.query_one("#members").focus()
            await shot("confirm", "e", wait=0.3)
            await shot("help", "n", "question_mark", wait=0.3)
    finally:
        stop.set()
        await loader
        for proc in reversed(procs):
            proc.kill()
            proc.wait(5)
    print(f"saved to {out}")


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/img")))
