"""Processes for the wire-compatibility tests: a real uvicorn server and the client drivers.

Every wait here is bounded; nothing sleeps for a fixed time to "let things settle": the server
is ready when its port accepts connections, a driver is done when it prints its result line.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers import ServerProcess
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]
COMPAT = Path(__file__).resolve().parent
JS_DRIVER = COMPAT / "js" / "driver.js"
PY_DRIVER = COMPAT / "py" / "driver.py"
ENDPOINT = "/api/socket"
SERVER_START_TIMEOUT = 20.0
SERVER_STOP_TIMEOUT = 15.0
DRIVER_TIMEOUT = 75.0

Observation = dict[str, Any]


class UvicornServer(ServerProcess):
    """``python -m uvicorn tests.compat.app:app`` on a fixed port, restartable in place."""

    def __init__(self, log_dir: Path, port: int | None = None,
                 app: str = "tests.compat.app:app") -> None:
        port = port or free_port()
        super().__init__([sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1",
                          "--port", "{port}", "--timeout-graceful-shutdown", "5"],
                         port=port, log=log_dir / f"uvicorn-{port}.log", cwd=REPO,
                         what="uvicorn", start_timeout=SERVER_START_TIMEOUT)
        self.app = app
        self.starts = 0

    @property
    def log_path(self) -> Path:
        assert self.log is not None
        return self.log

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{ENDPOINT}"

    def start(self) -> None:
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"--- start #{self.starts} ---\n".encode())
        super().start()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = SERVER_STOP_TIMEOUT
             ) -> int | None:
        return super().stop(sig, timeout)

    def log_tail(self, lines: int = 40) -> str:
        return super().log_tail(lines) or "(no server log)"


@dataclass
class DriverRun:
    """What one driver printed, with helpers to look through it."""

    client: str
    scenario: str
    returncode: int | None
    observations: list[Observation]
    stderr: str
    server: UvicornServer | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def result(self) -> Observation:
        for obs in reversed(self.observations):
            if "result" in obs:
                return obs
        return {}

    @property
    def passed(self) -> bool:
        return self.returncode == 0 and self.result.get("result") == "pass"

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.get("summary") or {}

    def events(self, event: str, client: str | None = None,
               pred: Callable[[Observation], bool] = lambda o: True) -> list[Observation]:
        out = []
        for obs in self.observations:
            if obs.get("event") != event or (client is not None and obs.get("client") != client):
                continue
            try:
                if pred(obs):
                    out.append(obs)
            except (KeyError, TypeError, AttributeError):
                continue
        return out

    def frames_in(self, client: str | None = None,
                  pred: Callable[[dict[str, Any]], bool] = lambda f: True) -> list[dict]:
        return [o["frame"] for o in self.events("frame_in", client,
                                                lambda o: isinstance(o["frame"], dict)
                                                and pred(o["frame"]))]

    def frames_out(self, client: str | None = None,
                   pred: Callable[[dict[str, Any]], bool] = lambda f: True) -> list[dict]:
        return [o["frame"] for o in self.events("frame_out", client,
                                                lambda o: isinstance(o.get("frame"), dict)
                                                and pred(o["frame"]))]

    def transcript(self, limit: int = 120) -> str:
        """The frames in order, ``A> ...`` client to server and ``A< ...`` server to client."""
        lines = []
        for obs in self.observations:
            who = obs.get("client", "-")
            kind = obs.get("event")
            if kind == "frame_in":
                lines.append(f"{who}< {json.dumps(obs['frame'])}")
            elif kind == "frame_out":
                extra = f"  (HTTP {obs['status']})" if "status" in obs else ""
                lines.append(f"{who}> {json.dumps(obs.get('frame'))}{extra}")
            elif kind in ("channel_state", "connection_state"):
                lines.append(f"{who}  [{kind} {obs.get('channel', '')} -> {obs['state']}]")
            elif kind in ("ws_close", "connect_failed", "client_error", "client_exception",
                          "sse_error", "sse_delete", "ready_for_restart"):
                rest = {k: v for k, v in obs.items() if k not in ("t", "client", "event")}
                lines.append(f"{who}  [{kind} {json.dumps(rest)}]")
        if len(lines) > limit:
            lines = [*lines[:limit // 2], "...", *lines[-limit // 2:]]
        return "\n".join(lines)

    def explain(self) -> str:
        parts = [f"{self.client} driver, scenario {self.scenario!r}: exit {self.returncode}, "
                 f"result {json.dumps(self.result)}", *self.notes,
                 "--- frames ---", self.transcript()]
        if self.stderr.strip():
            parts += ["--- driver stderr ---", self.stderr.strip()[-3000:]]
        if self.server is not None:
            parts += ["--- server log ---", self.server.log_tail()]
        return "\n".join(parts)


class Driver:
    """A running driver process; its output is read as it comes."""

    def __init__(self, client: str, scenario: str, cmd: list[str], env: dict[str, str],
                 server: UvicornServer | None) -> None:
        self.client = client
        self.scenario = scenario
        self.server = server
        self.observations: list[Observation] = []
        self._queue: queue.Queue[Observation | None] = queue.Queue()
        self._stderr: list[str] = []
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                     errors="replace", bufsize=1, start_new_session=True)
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()
        self.notes: list[str] = []

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            for line in self.proc.stdout:
                line = line.strip()
                if not line:
                    continue
                try:
                    obs = json.loads(line)
                except ValueError:
                    obs = {"event": "unparsed_output", "line": line[:2000]}
                self._queue.put(obs)
        except Exception as exc:  # never leave wait_for() hanging
            self._queue.put({"event": "harness_read_error", "error": repr(exc)})
        finally:
            self._queue.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def wait_for(self, pred: Callable[[Observation], bool], what: str,
                 timeout: float = 30.0) -> Observation | None:
        """Consume output until an observation matches; None if the driver ended first."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"driver did not report {what} within {timeout}s")
            try:
                obs = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if obs is None:
                self._queue.put(None)
                return None
            self.observations.append(obs)
            if pred(obs):
                return obs

    def finish(self, timeout: float = DRIVER_TIMEOUT) -> DriverRun:
        try:
            self.wait_for(lambda o: False, "its end", timeout)
        except TimeoutError:
            self.notes.append(f"driver killed: no result within {timeout}s")
            self.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        while True:
            try:
                obs = self._queue.get_nowait()
            except queue.Empty:
                break
            if obs is not None:
                self.observations.append(obs)
        return DriverRun(self.client, self.scenario, self.proc.returncode, self.observations,
                         "".join(self._stderr), self.server, self.notes)

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def js_command(node_modules: str, server: UvicornServer, scenario: str,
               ) -> tuple[list[str], dict[str, str]]:
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    env = {**os.environ, "NODE_PATH": node_modules}
    return [node, str(JS_DRIVER), server.http_url, scenario], env


def py_command(python: str, server: UvicornServer, scenario: str,
               ) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONUNBUFFERED"] = "1"
    return [python, str(PY_DRIVER), server.ws_url, scenario], env


@contextlib.contextmanager
def running_server(log_dir: Path) -> Iterator[UvicornServer]:
    server = UvicornServer(log_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# -- checks shared by both clients ------------------------------------------------------------

SERVER_ACTIONS = {"PRESENCE", "SYSTEM", "BROADCAST", "ERROR", "CONNECT"}
UNICODE_TEXT = "h\u00e9llo from B \u2713 \U0001f600 \u65e5\u672c"
ORDERING_COUNT = 50
WIRE_KEYS = {"action", "event", "channelName", "requestId", "payload"}


def check_wire(run: DriverRun) -> None:
    """Every frame the server sent passes the strict JS client schema (reference 1.1)."""
    for obs in run.events("frame_in"):
        frame = obs["frame"]
        assert isinstance(frame, dict), f"non-JSON frame {frame!r}\n{run.explain()}"
        assert frame.keys() >= WIRE_KEYS, f"frame lacks {WIRE_KEYS - frame.keys()}: {frame}"
        assert frame["action"] in SERVER_ACTIONS, f"unknown action in {frame}"
        assert isinstance(frame["payload"], dict), f"payload not an object in {frame}"
        for key in ("event", "channelName", "requestId"):
            assert isinstance(frame[key], str), f"{key} not a string in {frame}"
        if frame["action"] == "PRESENCE":
            assert frame["event"] in ("JOIN", "LEAVE", "UPDATE"), frame
            assert isinstance(frame["payload"].get("presence"), list), frame
            assert all(isinstance(p, dict) for p in frame["payload"]["presence"]), frame
            assert isinstance(frame["payload"].get("changed"), dict), frame
    exceptions = run.events("client_exception")
    assert not exceptions, f"the client threw on a frame: {exceptions}\n{run.explain()}"


def assert_passed(run: DriverRun) -> None:
    assert run.passed, run.explain()
    check_wire(run)


def join_request_id(run: DriverRun, client: str, channel: str, nth: int = 0) -> str:
    joins = run.frames_out(client, lambda f: f["action"] == "JOIN_CHANNEL"
                           and f["channelName"] == channel)
    assert len(joins) > nth, f"{client} sent no JOIN for {channel}\n{run.explain()}"
    return joins[nth]["requestId"]


def reply_frame(run: DriverRun, client: str, event: str) -> tuple[dict, dict]:
    """The request ``event`` sent by ``client`` and the frame that answered it."""
    sent = run.frames_out(client, lambda f: f["action"] == "BROADCAST" and f["event"] == event)
    assert sent, f"{client} sent no {event}\n{run.explain()}"
    request = sent[0]
    answers = run.frames_in(client, lambda f: f["requestId"] == request["requestId"])
    assert answers, f"nothing answered {request}\n{run.explain()}"
    return request, answers[0]


def room(run: DriverRun) -> str:
    return run.observations[0]["room"]


def check_connect(run: DriverRun) -> None:
    assert_passed(run)
    first = run.frames_in("A")[0]
    assert first["action"] == "CONNECT" and first["event"] == "CONNECTION", first
    assert first["channelName"] == "GATEWAY", first
    payload = first["payload"]
    assert isinstance(payload.get("connectionId"), str) and payload["connectionId"], first
    assert payload.get("id") == payload["connectionId"], first
    assert run.summary["state"] == "connected"


def check_connect_declined(run: DriverRun) -> None:
    assert_passed(run)
    assert run.summary["ever_connected"] is False, run.explain()
    assert "401" in run.summary["error"], (
        f"the declined handshake should be answered with HTTP 401: {run.summary['error']}")
    assert not run.frames_in("A"), run.explain()


def check_join_accepted(run: DriverRun) -> None:
    assert_passed(run)
    name = room(run)
    join_id = join_request_id(run, "A", name)
    acks = run.frames_in("A", lambda f: f["event"] == "ACKNOWLEDGE")
    assert acks and acks[0] == {"action": "SYSTEM", "event": "ACKNOWLEDGE", "channelName": name,
                                "requestId": join_id, "payload": {}}, run.explain()
    joined = run.events("presence_join", "A")
    assert joined and joined[0]["changed"] == {"name": "alice", "status": "online"}
    assert run.summary["presence"] == [{"name": "alice", "status": "online"}]


def _check_declined(run: DriverRun, channel: str, code: int, message: str | None) -> None:
    assert_passed(run)
    assert run.summary["state"] == "DECLINED"
    join_id = join_request_id(run, "A", channel)
    answers = run.frames_in("A", lambda f: f["requestId"] == join_id)
    assert len(answers) == 1, f"expected one answer to the join\n{run.explain()}"
    frame = answers[0]
    assert (frame["action"], frame["event"], frame["channelName"]) == (
        "SYSTEM", "UNAUTHORIZED", channel), run.explain()
    assert frame["payload"]["code"] == code, frame
    assert isinstance(frame["payload"]["message"], str), frame
    if message is not None:
        assert frame["payload"]["message"] == message, frame


def check_join_declined(run: DriverRun) -> None:
    _check_declined(run, room(run), 403, "denied")


def check_join_unknown(run: DriverRun) -> None:
    _check_declined(run, "/nope/1", 404, None)


def check_broadcast(run: DriverRun) -> None:
    assert_passed(run)
    for client in ("A", "B"):
        got = run.events("message", client, lambda o: o["name"] == "message"
                         and o["payload"] == {"text": "hello from A"})
        assert len(got) == 1, f"{client} should get A's message once\n{run.explain()}"
    got = run.events("message", "A", lambda o: o["payload"] == {"text": UNICODE_TEXT})
    assert len(got) == 1, run.explain()
    frames = run.frames_in("B", lambda f: f["action"] == "BROADCAST")
    assert frames and frames[0]["channelName"] == room(run), frames
    # A fresh requestId: reusing the sender's would resolve a pending JS sendForResponse
    # with the broadcast instead of the reply (reference 1.7).
    sent = run.frames_out("A", lambda f: f["action"] == "BROADCAST")[0]
    assert frames[0]["requestId"] != sent["requestId"], (sent, frames[0])


def check_presence(run: DriverRun) -> None:
    assert_passed(run)
    joins = [o["changed"] for o in run.events("presence_join", "A")]
    assert joins[:2] == [{"name": "alice", "status": "online"},
                         {"name": "bob", "status": "online"}], joins
    updates = run.events("presence_update", "A")
    assert updates and updates[0]["payload"]["changed"] == {"name": "bob", "status": "away"}
    assert updates[0]["payload"]["presence"] == [{"name": "alice", "status": "online"},
                                                 {"name": "bob", "status": "away"}]
    leaves = run.events("presence_leave", "A")
    assert leaves and leaves[0]["changed"] == {"name": "bob", "status": "away"}, leaves
    assert run.summary["presence_after_update"] == [{"name": "alice", "status": "online"},
                                                    {"name": "bob", "status": "away"}]
    assert run.summary["presence_after_leave"] == [{"name": "alice", "status": "online"}]
    users = run.events("users", "A")
    assert users[-1]["users"] == [{"name": "alice", "status": "online"}], users


def check_request_reply(run: DriverRun) -> None:
    assert_passed(run)
    assert run.summary["reply"] == {"t": 1}
    request, answer = reply_frame(run, "A", "ping")
    assert answer == {"action": "SYSTEM", "event": "pong", "channelName": request["channelName"],
                      "requestId": request["requestId"], "payload": {"t": 1}}, run.explain()


def check_unknown_event(run: DriverRun) -> None:
    assert_passed(run)
    reply = run.summary["reply"]
    assert isinstance(reply.get("code"), int) and isinstance(reply.get("message"), str), reply
    _request, answer = reply_frame(run, "A", "no_such_event")
    assert answer["action"] == "ERROR", answer
    assert run.summary["pong"] == {"t": 1}
    assert run.summary["state"] == "JOINED"


def check_leave(run: DriverRun) -> None:
    assert_passed(run)
    name = room(run)
    leaves = run.frames_out("A", lambda f: f["action"] == "LEAVE_CHANNEL")
    assert len(leaves) == 1, run.explain()
    acks = run.frames_in("A", lambda f: f["event"] == "EXIT_ACKNOWLEDGE")
    assert acks == [{"action": "SYSTEM", "event": "EXIT_ACKNOWLEDGE", "channelName": name,
                     "requestId": leaves[0]["requestId"], "payload": {}}], run.explain()
    assert run.events("presence_leave", "B", lambda o: o["changed"]["name"] == "alice")
    assert run.summary["leaked_after_leave"] == [], run.explain()
    assert run.summary["rejoined"] == "JOINED", run.explain()


def check_ordering(run: DriverRun) -> None:
    """Frames reach a connection in the order the server produced them (principle 6)."""
    assert_passed(run)
    assert run.summary["reply"] == {"t": 1}
    assert run.summary["seqs_before_reply"] == list(range(ORDERING_COUNT)), run.explain()


def check_disconnect(run: DriverRun) -> None:
    assert_passed(run)
    leaves = run.events("presence_leave", "B", lambda o: o["changed"]["name"] == "alice")
    assert len(leaves) == 1, run.explain()
    assert run.summary["presence"] == [{"name": "bob", "status": "online"}], run.explain()


def check_channel_names(run: DriverRun) -> None:
    assert_passed(run)
    replies = run.summary["replies"]
    assert len(replies) == 3 and all(r == {"t": 1} for r in replies.values()), replies
    for name in replies:
        join_id = join_request_id(run, "A", name)
        acks = run.frames_in("A", lambda f, i=join_id: f["requestId"] == i)
        assert acks and acks[0]["channelName"] == name, (name, acks)


def check_large_message(run: DriverRun) -> None:
    assert_passed(run)
    assert run.summary["length"] == 120000


def check_too_large(run: DriverRun) -> None:
    """DESIGN: too large -> ERROR to the sender with the triggering requestId, {code, message};
    the connection stays open. Without the requestId no client can tie the error to the send
    (JS sendForResponse waits forever, Python's times out)."""
    assert_passed(run)
    assert run.summary["still_connected"] is True
    assert run.summary["reply"] == {"t": 1}, "the connection must stay usable"
    errors = run.summary["errors"]
    assert len(errors) == 1 and errors[0]["payload"]["code"] == 413, errors
    sent = run.frames_out("A", lambda f: f["action"] == "BROADCAST" and f["event"] == "message")
    assert errors[0]["requestId"] == sent[0]["requestId"], (
        "the 413 ERROR frame does not carry the oversized message's requestId "
        f"(channelName {errors[0]['channelName']!r}), so the client cannot correlate it: "
        f"{errors[0]}")
    assert run.summary["answer"] is not None and run.summary["answer"]["code"] == 413


def check_evict(run: DriverRun) -> None:
    assert_passed(run)
    evicted = run.frames_in("B", lambda f: f["event"] == "EVICTED")
    assert len(evicted) == 1, run.explain()
    assert evicted[0]["action"] == "SYSTEM" and evicted[0]["payload"] == {"reason": "bye"}
    assert evicted[0]["channelName"] == room(run)
    assert run.events("presence_leave", "A", lambda o: o["changed"]["name"] == "bob")


def check_reconnect(run: DriverRun) -> None:
    assert_passed(run)
    name = room(run)
    assert run.summary["reply"] == {"t": 1}
    assert run.summary["opens"] >= 2, run.explain()
    joins = run.frames_out("A", lambda f: f["action"] == "JOIN_CHANNEL"
                           and f["channelName"] == name)
    assert len(joins) >= 2, run.explain()
    acks = run.frames_in("A", lambda f: f["event"] == "ACKNOWLEDGE" and f["channelName"] == name)
    assert acks[-1]["requestId"] == joins[-1]["requestId"], run.explain()
    states = [o["state"] for o in run.events("channel_state", "A") if o["channel"] == name]
    assert "STALLED" in states, states
    assert "JOINED" in states[states.index("STALLED"):], states


CHECKS: dict[str, Callable[[DriverRun], None]] = {
    "connect": check_connect,
    "connect_declined": check_connect_declined,
    "join_accepted": check_join_accepted,
    "join_declined": check_join_declined,
    "join_unknown": check_join_unknown,
    "broadcast": check_broadcast,
    "presence": check_presence,
    "request_reply": check_request_reply,
    "unknown_event": check_unknown_event,
    "leave": check_leave,
    "evict": check_evict,
    "ordering": check_ordering,
    "disconnect": check_disconnect,
    "channel_names": check_channel_names,
    "large_message": check_large_message,
    "too_large": check_too_large,
}
# Known server bugs: scenario -> reason (the test is a strict xfail until fixed).
KNOWN_SERVER_BUGS: dict[str, str] = {}
