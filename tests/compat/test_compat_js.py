"""The published JS client (@eleven-am/pondsocket-client, npm) against our server under uvicorn.

Each test runs tests/compat/js/driver.js for one scenario and checks what the client saw.
"""

from __future__ import annotations

import signal

import pytest

from .harness import (
    CHECKS,
    KNOWN_SERVER_BUGS,
    DriverRun,
    UvicornServer,
    assert_passed,
    check_reconnect,
    reply_frame,
)

# The first test also installs the clients (a few minutes at most on a cold cache).
pytestmark = pytest.mark.timeout(420)


@pytest.mark.parametrize("scenario", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_SERVER_BUGS[name], strict=True))
    if name in KNOWN_SERVER_BUGS else name
    for name in CHECKS
])
def test_scenario(scenario: str, compat_server: UvicornServer, run_js) -> None:
    CHECKS[scenario](run_js(compat_server, scenario))


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_reconnect_after_server_restart(how: str, restartable_server: UvicornServer,
                                        start_js) -> None:
    driver = start_js(restartable_server, "reconnect")
    ready = driver.wait_for(lambda o: o.get("event") == "ready_for_restart",
                            "that it joined", timeout=30)
    assert ready is not None, driver.finish().explain()
    restartable_server.restart(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    check_reconnect(driver.finish())


def test_legacy_ping_frames_are_ignored(compat_server: UvicornServer, run_js) -> None:
    """npm 0.0.32 sends {"action":"ping"} with pingInterval set: no error frame may answer."""
    run = run_js(compat_server, "legacy_ping")
    assert_passed(run)
    assert len(run.frames_out("A", lambda f: f.get("action") == "ping")) >= 3
    assert run.summary["errors"] == [], run.explain()
    assert run.summary["reply"] == {"t": 1}


def test_sse_client(compat_server: UvicornServer, run_js) -> None:
    """SSEClient (EventSource polyfill under Node) talking with a WebSocket client."""
    run: DriverRun = run_js(compat_server, "sse")
    assert_passed(run)
    connect = run.frames_in("S", lambda f: f["action"] == "CONNECT")
    assert len(connect) == 1, run.explain()
    token = connect[0]["payload"]["connectionId"]
    assert token and token != connect[0]["payload"].get("id"), (
        "the SSE credential must be a secret token, not the user id")
    posts = run.events("frame_out", "S")
    assert posts and all(200 <= o["status"] < 300 for o in posts), run.explain()
    deletes = run.events("sse_delete", "S")
    assert deletes and 200 <= deletes[0]["status"] < 300, run.explain()
    assert run.summary["reply"] == {"t": 1}
    _request, answer = reply_frame(run, "S", "ping")
    assert answer["action"] == "SYSTEM" and answer["event"] == "pong"
    assert run.events("message", "S", lambda o: o["payload"] == {"text": "from sse"})


def test_sse_declined_stream_gets_the_http_status(compat_server: UvicornServer, run_js) -> None:
    run = run_js(compat_server, "sse_declined")
    assert_passed(run)
    assert run.summary["ever_connected"] is False
    assert run.summary["status"] == 401, run.explain()


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_sse_reconnect_after_server_restart(how: str, restartable_server: UvicornServer,
                                            start_js) -> None:
    driver = start_js(restartable_server, "sse_reconnect")
    ready = driver.wait_for(lambda o: o.get("event") == "ready_for_restart",
                            "that it joined", timeout=30)
    assert ready is not None, driver.finish().explain()
    restartable_server.restart(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    run = driver.finish()
    assert_passed(run)
    assert run.summary["reply"] == {"t": 1}
    assert run.summary["connects"] >= 2, run.explain()
    assert len(run.summary["join_posts"]) >= 2, run.explain()
    assert all(200 <= status < 300 for status in run.summary["join_posts"]), run.explain()


def test_double_join_keeps_the_channel(compat_server: UvicornServer, run_js) -> None:
    """join() called twice before connecting sends two JOINs: the second gets an ERROR
    (duplicate join) that must not decline the channel the first one joined."""
    run = run_js(compat_server, "double_join")
    assert_passed(run)
    assert run.summary["state"] == "JOINED" and run.summary["reply"] == {"t": 1}
    joins = run.frames_out("A", lambda f: f["action"] == "JOIN_CHANNEL")
    assert len(joins) == 2
    second = run.frames_in("A", lambda f: f["requestId"] == joins[1]["requestId"])
    assert len(second) == 1 and second[0]["action"] == "ERROR", run.explain()
    assert isinstance(second[0]["payload"]["code"], int), second
