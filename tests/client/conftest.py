"""Fixtures for the client SDK and ``pondctl`` client tests: real servers, real clients.

* ``demo_server``: the demo app (``pondsocket_tools.demo.create_app()``) under an in-process
  ``uvicorn.Server`` on an ephemeral port, as a task of the test's event loop.
* ``start_app``: the same for any ASGI app (tests that need special handlers).
* ``make_client``: :class:`PondClient` factory with fast reconnect settings; every client is
  closed when the test ends.
* ``DemoProcess``: the demo in a uvicorn subprocess on a fixed port (restart tests, the CLI);
  ``demo_process`` is one shared for the whole session.

Every wait is bounded; the only polling is for a port or a process to come up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from pondsocket_tools.client import ClientOptions, PondClient
from pondsocket_tools.demo import ENDPOINT, create_app
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 5.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A client test that hangs fails after 30 s."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))




def fast_options(**overrides: Any) -> ClientOptions:
    """Client options for tests: quick reconnects, short but safe timeouts."""
    settings: dict[str, Any] = {
        "connect_timeout": TIMEOUT, "join_timeout": TIMEOUT, "request_timeout": TIMEOUT,
        "leave_timeout": TIMEOUT, "backoff_initial": 0.05, "backoff_max": 0.3,
        "backoff_jitter": 0.0}
    settings.update(overrides)
    return ClientOptions(**settings)


class Running:
    """An in-process uvicorn server."""

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], port: int,
                 app: Any) -> None:
        self.server = server
        self.task = task
        self.port = port
        self.app = app

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{ENDPOINT}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT}"

    @property
    def pond(self) -> Any:
        return self.app.pond

    async def stop(self) -> None:
        if not self.task.done():
            self.server.should_exit = True
        async with asyncio.timeout(TIMEOUT * 2):
            await self.task


async def serve_app(app: Any, port: int = 0) -> Running:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="on",
                                           log_level="critical", log_config=None,
                                           timeout_graceful_shutdown=2))
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(TIMEOUT):
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.005)  # start-up has no event to await
    port = server.servers[0].sockets[0].getsockname()[1]
    return Running(server, task, port, app)


@pytest.fixture
async def start_app() -> AsyncIterator[Any]:
    running: list[Running] = []

    async def start(app: Any, port: int = 0) -> Running:
        server = await serve_app(app, port)
        running.append(server)
        return server

    yield start
    for server in reversed(running):
        await server.stop()


@pytest.fixture
async def demo_server(start_app: Any) -> Running:
    return await start_app(create_app())


@pytest.fixture
async def make_client(start_app: Any) -> AsyncIterator[Any]:
    # Depends on start_app so that clients close before the servers stop.
    clients: list[PondClient] = []

    def factory(url: str, params: dict[str, Any] | None = None, *,
                transport: str = "websocket", **overrides: Any) -> PondClient:
        client = PondClient(url, params, transport=transport,  # type: ignore[arg-type]
                            options=fast_options(**overrides))
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


async def connected(make_client: Any, server: Running, name: str, *, token: str = "demo",
                    transport: str = "websocket", **overrides: Any) -> PondClient:
    """A demo client that is connected (``name`` and ``token`` as query parameters)."""
    url = server.url if transport == "websocket" else server.http_url
    client = make_client(url, {"token": token, "name": name}, transport=transport,
                         **overrides)
    await client.connect()
    return client


def connected_to_process(make_client: Any, server: DemoProcess, name: str) -> PondClient:
    """A demo client for a subprocess server (connects on its first join)."""
    return make_client(server.url, {"token": "demo", "name": name})


# -- the demo in a subprocess -------------------------------------------------------------


class DemoProcess:
    """The demo under ``python -m uvicorn`` on a fixed port, restartable in place."""

    def __init__(self, port: int | None = None, *, command: list[str] | None = None) -> None:
        self.port = port or free_port()
        self.command = command
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{ENDPOINT}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        command = self.command or [
            sys.executable, "-m", "uvicorn", "--factory", "pondsocket_tools.demo:create_app",
            "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
            "--timeout-graceful-shutdown", "2"]
        command = [part.replace("{port}", str(self.port)) for part in command]
        self.proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:  # poll for the port to come up
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo server exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.2):
                return
            if time.monotonic() > deadline:
                raise RuntimeError("demo server did not start within 20 s")
            time.sleep(0.02)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()


@pytest.fixture
def demo_process_factory() -> Iterator[Any]:
    started: list[DemoProcess] = []

    def factory(**kwargs: Any) -> DemoProcess:
        process = DemoProcess(**kwargs)
        started.append(process)
        process.start()
        return process

    yield factory
    for process in started:
        process.stop(signal.SIGKILL)


@pytest.fixture(scope="session")
def demo_process() -> Iterator[DemoProcess]:
    """One demo server for the whole session (CLI tests)."""
    process = DemoProcess()
    process.start()
    yield process
    process.stop(signal.SIGKILL)


@pytest.fixture
def cli_env(demo_process: DemoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
            ) -> DemoProcess:
    """Environment for ``pondctl`` pointing at the session demo, with no user config."""
    monkeypatch.setenv("PONDCTL_URL", demo_process.url)
    monkeypatch.setenv("PONDCTL_TOKEN", "demo")
    monkeypatch.setenv("PONDCTL_TIMEOUT", "5")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("PONDCTL_CONFIG", "PONDCTL_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    return demo_process
