"""Fixtures shared by the in-process tests (helpers live in tests/core/helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from pondsocket import Endpoint, Options, PondSocket
from tests.cluster.procs import RedisServer
from tests.core.helpers import accept_connection
from tests.support import check_needs


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(name, available, install): an outside dependency these tests need "
        "(tests.support.needs: missing, they fail unless PONDSOCKET_TEST_OPTIONAL lists it)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_needs(item)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A core test is in-process and fast: one that hangs fails after 15 s, not 120 s."""
    for item in items:
        if "core" in item.path.parts and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(15))


@pytest.fixture
async def make_pond() -> AsyncIterator[Callable[..., PondSocket]]:
    """A factory of PondSockets that are all closed at the end of the test."""
    ponds: list[PondSocket] = []

    def factory(options: Options | None = None, **kwargs: Any) -> PondSocket:
        pond = PondSocket(options=options, **kwargs)
        ponds.append(pond)
        return pond

    yield factory
    for pond in ponds:
        await pond.close()


@pytest.fixture
async def pond(make_pond: Callable[..., PondSocket]) -> PondSocket:
    return make_pond()


@pytest.fixture
def endpoint(pond: PondSocket) -> Endpoint:
    """An endpoint that accepts every connection."""
    return pond.create_endpoint("/socket", accept_connection)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free port of 127.0.0.1 (restartable on that port),
    stopped at the end of the test."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()
