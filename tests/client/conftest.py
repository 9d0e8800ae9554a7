"""Fixtures for the client SDK and ``pondctl`` client tests: real servers, real clients.

* ``demo_server``: the demo app (``pondsocket_tools.demo.create_app()``) under an in-process
  ``uvicorn.Server`` on an ephemeral port, as a task of the test's event loop
  (:func:`tests.servers.start_uvicorn`).
* ``start_app``: the same for any ASGI app (tests that need special handlers).
* ``make_client``: :class:`PondClient` factory with fast reconnect settings; every client is
  closed when the test ends.
* ``DemoProcess``: the demo in a uvicorn subprocess on a fixed port (restart tests, the CLI;
  a :class:`tests.servers.ServerProcess`);
  ``demo_process`` is one shared for the whole session.

Every wait is bounded; the only polling is for a port or a process to come up.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pondsocket_tools.client import ClientOptions, PondClient
from pondsocket_tools.demo import ENDPOINT, create_app
from tests.servers import ServerProcess, UvicornServer, start_uvicorn
from tests.support import free_port  # noqa: F401 - the tests import it from here

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
    """An in-process uvicorn server (:func:`tests.servers.start_uvicorn`) serving the demo's
    endpoint path."""

    def __init__(self, server: UvicornServer) -> None:
        self.server = server
        self.port = server.port
        self.app = server.app

    @property
    def url(self) -> str:
        return self.server.ws_url(ENDPOINT)

    @property
    def http_url(self) -> str:
        return self.server.http_url(ENDPOINT)

    @property
    def pond(self) -> Any:
        return self.app.pond

    async def stop(self) -> None:
        await self.server.stop()


async def serve_app(app: Any, port: int = 0) -> Running:
    return Running(await start_uvicorn(app, port=port, log_level="critical",
                                       timeout_graceful_shutdown=2))


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


class DemoProcess(ServerProcess):
    """The demo under ``python -m uvicorn`` on a fixed port, restartable in place
    (``command`` replaces the uvicorn command; ``{port}`` in it becomes the port)."""

    def __init__(self, port: int | None = None, *, command: list[str] | None = None) -> None:
        super().__init__(command or [
            sys.executable, "-m", "uvicorn", "--factory", "pondsocket_tools.demo:create_app",
            "--host", "127.0.0.1", "--port", "{port}", "--log-level", "warning",
            "--timeout-graceful-shutdown", "2"], port=port, cwd=REPO, what="the demo server")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{ENDPOINT}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT}"


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
