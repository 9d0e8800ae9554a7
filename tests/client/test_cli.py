"""``pondctl`` client commands: CliRunner against the demo in a subprocess, and
``pondctl listen`` as a real process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from pondsocket_tools.cli import main

from .conftest import REPO, free_port

WAIT = 10.0


def pondctl(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


# -- connect -----------------------------------------------------------------------------


def test_connect(cli_env) -> None:
    result = pondctl("connect")
    assert result.exit_code == 0, result.output
    assert "✓ connected to" in result.stdout and "token=***" in result.stdout
    assert "connection id:" in result.stdout


def test_connect_url_argument_and_sse(cli_env) -> None:
    result = pondctl("connect", cli_env.http_url, "--transport", "sse")
    assert result.exit_code == 0, result.output
    assert "over sse" in result.stdout


def test_connect_refused_401(cli_env) -> None:
    result = pondctl("connect", "--token", "nope")
    assert result.exit_code == 4
    assert "connection refused by the server: HTTP 401 Invalid token" in result.stderr
    assert "Hint: check the token" in result.stderr


def test_connect_without_token_to_another_url(cli_env, monkeypatch) -> None:
    monkeypatch.delenv("PONDCTL_TOKEN")
    result = pondctl("connect")
    assert result.exit_code == 4
    assert "no token was sent" in result.stderr


def test_connect_no_endpoint_404(cli_env) -> None:
    result = pondctl("connect", cli_env.url.replace("/api/socket", "/nope"))
    assert result.exit_code == 4 and "HTTP 404" in result.stderr
    assert "no PondSocket endpoint at this URL path" in result.stderr


def test_unreachable_server(cli_env) -> None:
    result = pondctl("connect", f"ws://127.0.0.1:{free_port()}/api/socket")
    assert result.exit_code == 3
    assert "connection refused (is the server running?)" in result.stderr
    result = pondctl("send", "/chat/1", "message", "{}", "--url",
                     f"ws://127.0.0.1:{free_port()}/api/socket")
    assert result.exit_code == 3


def test_unreachable_demo_default_hint(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("PONDCTL_URL", "PONDCTL_TOKEN", "PONDCTL_CONFIG", "PONDCTL_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    # The default URL (port 8765): unreachable unless someone runs the demo right now.
    result = pondctl("connect", "--timeout", "2")
    if result.exit_code == 0:
        pytest.skip("a demo server is running on the default port")
    assert result.exit_code == 3
    assert "is the demo running? start it with scripts/demo" in result.stderr


def test_bad_url_is_a_usage_error(cli_env) -> None:
    result = pondctl("connect", "ftp://example.com/")
    assert result.exit_code == 2 and "unsupported URL" in result.stderr


# -- send and request ---------------------------------------------------------------------


def test_send(cli_env) -> None:
    result = pondctl("send", "/chat/cli", "message", '{"text": "hello"}')
    assert result.exit_code == 0, result.output
    assert "✓ sent message to /chat/cli" in result.stderr


def test_send_from_stdin(cli_env) -> None:
    result = pondctl("send", "/chat/cli", "message", "-", input='{"text": "piped"}')
    assert result.exit_code == 0, result.output


def test_send_answered_with_an_error(cli_env) -> None:
    result = pondctl("send", "/chat/cli", "message", '{"txt": "typo"}')
    assert result.exit_code == 6
    assert 'the server answered with an error: 400 CHANNEL_ERROR on /chat/cli: message ' \
           'needs {"text": "<string>"}' in result.stderr


@pytest.mark.parametrize(("argument", "message"), [
    ("{text: hi}", "not valid JSON"),
    ('["a"]', "expected a JSON object"),
])
def test_bad_json_argument(cli_env, argument: str, message: str) -> None:
    result = pondctl("send", "/chat/cli", "message", argument)
    assert result.exit_code == 2 and message in result.stderr
    result = pondctl("request", "/chat/cli", "ping", argument)
    assert result.exit_code == 2 and message in result.stderr


def test_bad_join_param(cli_env) -> None:
    result = pondctl("send", "/chat/cli", "message", "{}", "-j", "novalue")
    assert result.exit_code == 2 and "expected KEY=VALUE or KEY:=JSON" in result.stderr


def test_request(cli_env) -> None:
    result = pondctl("request", "/chat/cli", "ping", '{"n": 1}')
    assert result.exit_code == 0, result.output
    reply = json.loads(result.stdout)
    assert reply["echo"] == {"n": 1}
    result = pondctl("request", "/chat/cli", "ping", "--compact", "--frame")
    frame = json.loads(result.stdout)
    assert result.stdout.count("\n") == 1
    assert (frame["action"], frame["event"]) == ("SYSTEM", "pong")


def test_request_answered_with_an_error(cli_env) -> None:
    result = pondctl("request", "/chat/cli", "nope")
    assert result.exit_code == 6
    assert "404 HANDLER_NOT_FOUND on /chat/cli: No handler for event 'nope'" in result.stderr
    assert result.stdout == ""


def test_request_without_reply_times_out(cli_env) -> None:
    result = pondctl("request", "/chat/cli", "message", '{"text": "no reply"}',
                     "--timeout", "0.5")
    assert result.exit_code == 7
    assert "no reply to 'message' on /chat/cli within 0.5s" in result.stderr


def test_declined_join(cli_env) -> None:
    result = pondctl("request", "/nowhere/1", "ping")
    assert result.exit_code == 5
    assert "join of /nowhere/1 declined (404): No channel matches /nowhere/1" in result.stderr


# -- presence ----------------------------------------------------------------------------


def test_presence_table_and_json(cli_env) -> None:
    result = pondctl("presence", "/chat/presence", "-p", "name=ada")
    assert result.exit_code == 0, result.output
    assert "/chat/presence: 1 present" in result.stdout and "ada" in result.stdout
    result = pondctl("presence", "/chat/presence", "--json", "-p", "name=bob")
    assert json.loads(result.stdout) == [{"name": "bob", "status": "online", "role": "member"}]


# -- config file and environment ----------------------------------------------------------


def test_config_file(cli_env, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PONDCTL_URL")
    monkeypatch.delenv("PONDCTL_TOKEN")
    config = tmp_path / "pondctl.toml"
    config.write_text(f'url = "{cli_env.url}"\ntoken = "demo"\n[params]\nname = "cfg"\n')
    result = pondctl("presence", "/chat/config", "--json", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["name"] == "cfg"
    monkeypatch.setenv("PONDCTL_CONFIG", str(config))
    assert pondctl("connect").exit_code == 0
    config.write_text("url = [")
    result = pondctl("connect")
    assert result.exit_code == 2 and "is not valid TOML" in result.stderr


def test_environment_beats_config(cli_env, tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "pondctl.toml"
    config.write_text('url = "ws://127.0.0.1:9/wrong"\ntoken = "wrong"\n')
    monkeypatch.setenv("PONDCTL_CONFIG", str(config))
    assert pondctl("connect").exit_code == 0  # PONDCTL_URL and PONDCTL_TOKEN win


# -- help and completion -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["connect", "join", "send", "request", "presence",
                                     "listen"])
def test_help_has_examples(command: str) -> None:
    result = pondctl(command, "--help")
    assert result.exit_code == 0 and "Examples:" in result.stdout
    assert "PONDCTL_URL" in result.stdout


def test_serve_and_demo_still_there() -> None:
    result = pondctl("--help")
    for command in ("serve", "demo", "connect", "join", "send", "request", "presence",
                    "listen"):
        assert command in result.stdout


def test_shell_completion_script() -> None:
    env = {**os.environ, "_PONDCTL_COMPLETE": "bash_source"}
    done = subprocess.run([str(Path(sys.executable).parent / "pondctl")], env=env,
                          capture_output=True, text=True, timeout=WAIT, check=False)
    assert done.returncode == 0 and "_pondctl_completion" in done.stdout


# -- listen as a real process --------------------------------------------------------------


class Process:
    """``pondctl`` in a subprocess, its output read line by line with bounded waits."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pondsocket_tools.cli", *args], cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
            text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.errors),
                         daemon=True).start()

    @staticmethod
    def _read(stream: Any, lines: queue.Queue[str | None]) -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def line(self) -> str | None:
        return self.lines.get(timeout=WAIT)

    def wait_stderr(self, text: str) -> None:
        """Wait (bounded) for a line containing ``text`` on standard error."""
        while True:
            line = self.errors.get(timeout=WAIT)
            assert line is not None, f"exited without printing {text!r}: {self.stderr}"
            self.stderr.append(line)
            if text in line:
                return

    def json(self) -> dict[str, Any]:
        line = self.line()
        assert line is not None, self.finish()
        return json.loads(line)

    def finish(self) -> tuple[int, str]:
        try:
            code = self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=WAIT)
        while (line := self.errors.get(timeout=WAIT)) is not None:
            self.stderr.append(line)
        return code, "\n".join(self.stderr)


@pytest.fixture
def listen_process(cli_env):
    started: list[Process] = []

    def start(*args: str) -> Process:
        process = Process(["listen", *args], dict(os.environ))
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=WAIT)


def test_listen_json_lines(listen_process) -> None:
    listener = listen_process("/chat/listen", "--json", "-n", "3", "-p", "name=lis")
    own = listener.json()  # its own presence JOIN: it has joined
    assert (own["action"], own["event"], own["payload"]["changed"]["name"]) == (
        "PRESENCE", "JOIN", "lis")
    assert pondctl("send", "/chat/listen", "message", '{"text": "one"}', "-p",
                   "name=ann").exit_code == 0
    frames = [listener.json(), listener.json()]
    code, stderr = listener.finish()
    assert code == 0, stderr
    assert [f["action"] for f in frames] == ["PRESENCE", "BROADCAST"]
    assert frames[1]["payload"]["text"] == "one" and frames[1]["payload"]["from"] == "ann"
    assert list(frames[1]) == ["action", "event", "channelName", "requestId", "payload"]


def test_listen_event_filter(listen_process) -> None:
    listener = listen_process("/chat/filter", "--json", "-e", "message", "-n", "1")
    listener.wait_stderr("listening on /chat/filter")  # it has joined
    assert pondctl("send", "/chat/filter", "message", '{"text": "only this"}').exit_code == 0
    assert listener.json()["payload"]["text"] == "only this"
    assert listener.finish()[0] == 0


def test_listen_evicted_exits_8(listen_process) -> None:
    listener = listen_process("/chat/evict", "--json", "-p", "name=victim")
    assert listener.json()["event"] == "JOIN"
    result = pondctl("request", "/chat/evict", "kick", '{"name": "victim"}', "-t", "demo-mod",
                     "-p", "name=mod")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": "victim", "count": 1}
    code, stderr = listener.finish()
    assert code == 8
    assert "/chat/evict: evicted by the server: Kicked by mod" in stderr


def test_connect_hold_stays_until_interrupted(cli_env) -> None:
    holder = Process(["connect", "--hold"], dict(os.environ))
    try:
        holder.wait_stderr("holding the connection")
        assert holder.proc.poll() is None  # still connected, not exited
        assert "✓ connected" in (holder.line() or "")
        holder.proc.send_signal(signal.SIGINT)
        code, _ = holder.finish()
        assert code == 130
    finally:
        if holder.proc.poll() is None:
            holder.proc.kill()
