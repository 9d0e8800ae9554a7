"""Fixtures for the wire-compatibility tests: installed clients, uvicorn servers, drivers."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    Driver,
    DriverRun,
    UvicornServer,
    js_command,
    py_command,
    running_server,
)
from .install_clients import Clients, InstallError, ensure_clients

StartDriver = Callable[[UvicornServer, str], Driver]
RunDriver = Callable[[UvicornServer, str], DriverRun]


@pytest.fixture(scope="session")
def compat_clients() -> Clients:
    """The upstream clients, installed into .cache/compat (once; reused afterwards)."""
    try:
        return ensure_clients()
    except InstallError as exc:
        pytest.fail("could not install the upstream PondSocket clients for the compatibility "
                    f"tests (npm / PyPI needed; run tests/compat/install_clients.py): {exc}",
                    pytrace=False)


@pytest.fixture(scope="session")
def compat_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compat-logs")


@pytest.fixture(scope="module")
def compat_server(compat_logs: Path) -> Iterator[UvicornServer]:
    """One uvicorn serving tests.compat.app for a whole test module (scenarios use own rooms)."""
    with running_server(compat_logs) as server:
        yield server


@pytest.fixture
def restartable_server(compat_logs: Path) -> Iterator[UvicornServer]:
    """A uvicorn of the test's own, which the test may restart on the same port."""
    with running_server(compat_logs) as server:
        yield server


@contextlib.contextmanager
def driver_starter(kind: str, command: Callable[[UvicornServer, str], Any]
                   ) -> Iterator[StartDriver]:
    """``start(server, scenario)`` for one client kind; every driver started is killed at
    the end."""
    drivers: list[Driver] = []

    def start(server: UvicornServer, scenario: str) -> Driver:
        cmd, env = command(server, scenario)
        driver = Driver(kind, scenario, cmd, env, server)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.kill()


@pytest.fixture
def start_js(compat_clients: Clients) -> Iterator[StartDriver]:
    with driver_starter("js", lambda server, scenario: js_command(
            compat_clients.node_modules, server, scenario)) as start:
        yield start


@pytest.fixture
def start_py(compat_clients: Clients) -> Iterator[StartDriver]:
    with driver_starter("py", lambda server, scenario: py_command(
            compat_clients.py_python, server, scenario)) as start:
        yield start


@pytest.fixture
def run_js(start_js: StartDriver) -> RunDriver:
    return lambda server, scenario: start_js(server, scenario).finish()


@pytest.fixture
def run_py(start_py: StartDriver) -> RunDriver:
    return lambda server, scenario: start_py(server, scenario).finish()
