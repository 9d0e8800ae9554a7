"""Helpers shared by the test suites that start real servers or need outside tools."""

from __future__ import annotations

import os
import socket

import pytest

#: Names of outside dependencies whose tests may be skipped when they are missing
#: (comma-separated, or ``all``). Unset, a missing dependency fails its tests: ``scripts/test``
#: installs every one of them, so a skip would only hide tests that never ran.
OPTIONAL_ENV = "PONDSOCKET_TEST_OPTIONAL"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def needs(name: str, available: bool, install: str) -> pytest.MarkDecorator:
    """Mark tests that need the outside dependency ``name``. When it is not ``available``
    they fail with ``install`` (how to get it), or are skipped if :data:`OPTIONAL_ENV` lists
    ``name``; tests/conftest.py applies the mark."""
    return pytest.mark.needs(name=name, available=available, install=install)


def optional_dependencies() -> set[str]:
    """The dependency names :data:`OPTIONAL_ENV` lists."""
    return {part.strip() for part in os.environ.get(OPTIONAL_ENV, "").split(",") if part.strip()}


def check_needs(item: pytest.Item) -> None:
    """Skip or fail ``item`` for each missing dependency its ``needs`` marks name."""
    for mark in item.iter_markers("needs"):
        if mark.kwargs["available"]:
            continue
        name, install = mark.kwargs["name"], mark.kwargs["install"]
        optional = optional_dependencies()
        if name in optional or "all" in optional:
            pytest.skip(f"{name} is not installed ({OPTIONAL_ENV} lists it as optional)")
        pytest.fail(f"{name} is not installed, and these tests need it: {install} "
                    f"(scripts/test installs it). To skip them instead, set "
                    f"{OPTIONAL_ENV}={name}.", pytrace=False)
