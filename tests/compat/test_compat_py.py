"""The published Python client (pondsocket-client, PyPI) against our server under uvicorn.

Each test runs tests/compat/py/driver.py in the client's own venv for one scenario and checks
what the client saw.
"""

from __future__ import annotations

import signal

import pytest

from .harness import CHECKS, KNOWN_SERVER_BUGS, UvicornServer, check_reconnect

# The first test also installs the clients (a few minutes at most on a cold cache).
pytestmark = pytest.mark.timeout(420)


@pytest.mark.parametrize("scenario", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_SERVER_BUGS[name], strict=True))
    if name in KNOWN_SERVER_BUGS else name
    for name in CHECKS
])
def test_scenario(scenario: str, compat_server: UvicornServer, run_py) -> None:
    CHECKS[scenario](run_py(compat_server, scenario))


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_reconnect_after_server_restart(how: str, restartable_server: UvicornServer,
                                        start_py) -> None:
    driver = start_py(restartable_server, "reconnect")
    ready = driver.wait_for(lambda o: o.get("event") == "ready_for_restart",
                            "that it joined", timeout=30)
    assert ready is not None, driver.finish().explain()
    restartable_server.restart(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    check_reconnect(driver.finish())
