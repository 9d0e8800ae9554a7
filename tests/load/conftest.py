"""Fixtures for the load tests: real servers in subprocesses, Locust in subprocesses.

Locust monkey-patches the standard library with gevent, so it is never imported here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.servers import ServerProcess
from tests.support import needs

ROOT = Path(__file__).resolve().parents[2]
LOADTESTS = ROOT / "loadtests"


def _locust_installed() -> bool:
    import importlib.util

    return (importlib.util.find_spec("locust") is not None
            and importlib.util.find_spec("websocket") is not None)


needs_locust = needs("locust", _locust_installed(),
                     'install the load extra: pip install -e ".[load]"')


@contextmanager
def uvicorn_server(app: str, *, factory: bool = False) -> Iterator[str]:
    """``python -m uvicorn APP`` on a free port; yields ``ws://127.0.0.1:<port>``."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
               "--port", "{port}", "--log-level", "warning"]
    if factory:
        command.append("--factory")
    server = ServerProcess(command, cwd=ROOT, what=f"uvicorn {app}")
    server.start()
    try:
        yield f"ws://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_url() -> Iterator[str]:
    """The built-in demo (``pondctl demo``'s app) served by uvicorn in a subprocess."""
    with uvicorn_server("pondsocket_tools.demo:create_app", factory=True) as url:
        yield url


@pytest.fixture(scope="session")
def dropping_url() -> Iterator[str]:
    """A server that drops and duplicates broadcasts (tests/load/dropping_app.py)."""
    with uvicorn_server("tests.load.dropping_app:app") as url:
        yield url


def pondctl_load(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``pondctl load ARGS`` in a subprocess (through the click group in pondsocket_tools.cli)."""
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pondsocket_tools.cli", "load", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
