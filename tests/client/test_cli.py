"""``pondctl`` client commands: CliRunner against the demo in a subprocess, and
``pondctl listen`` as a real process."""

from __future__ import annotations

import asyncio
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

from .apps import build_lab
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
    """With the default URL, an unreachable server gets the hint to start the demo. The
    default is moved to a free port, given through the config file, so that a demo running
    on 8765 changes nothing."""
    from pondsocket_tools.cli_client import config

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("PONDCTL_URL", "PONDCTL_TOKEN", "PONDCTL_CONFIG", "PONDCTL_TRANSPORT"):
        monkeypatch.delenv(name, raising=False)
    settings = config.resolve()  # no option, no variable, no config file: the demo
    assert (settings.url, settings.params, settings.uses_default_url) == (
        "ws://127.0.0.1:8765/api/socket", {"token": "demo"}, True)

    default = f"ws://127.0.0.1:{free_port()}/api/socket"
    monkeypatch.setattr(config, "DEFAULT_URL", default)
    (tmp_path / "pondctl").mkdir()
    (tmp_path / "pondctl" / "config.toml").write_text(f'url = "{default}"\n')
    result = pondctl("connect", "--timeout", "2")
    assert result.exit_code == 3, result.output
    assert f"cannot connect to {default}?token=***" in result.stderr  # the demo's token
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


def test_presence_of_an_empty_room_lists_nobody(cli_env) -> None:
    result = pondctl("presence", "/chat/presence-empty", "-p", "name=ada")
    assert result.exit_code == 0, result.output
    assert result.stdout == "/chat/presence-empty: nobody else present\n"  # no empty table
    assert "ada" not in result.stdout and "guest-" not in result.stdout
    result = pondctl("presence", "/chat/presence-empty", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


async def test_presence_lists_the_others_only(cli_env, make_client) -> None:
    members = []
    for name in ("bob", "ada"):  # an "ada" already there: only our own entry is left out
        member = make_client(cli_env.url, {"token": "demo", "name": name})
        await member.join("/chat/presence-others")
        members.append(member)
    result = await asyncio.to_thread(pondctl, "presence", "/chat/presence-others", "--json",
                                     "-p", "name=ada")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"name": "bob", "status": "online", "role": "member"},
        {"name": "ada", "status": "online", "role": "member"}]
    result = await asyncio.to_thread(pondctl, "presence", "/chat/presence-others")
    assert "/chat/presence-others: 2 present besides you" in result.stdout
    assert "guest-" not in result.stdout


async def test_presence_leaves_itself_out_on_another_server(cli_env, start_app) -> None:
    lab = await start_app(build_lab().app)  # tracks {"name": ...}: not the demo's entries
    result = await asyncio.to_thread(pondctl, "presence", "/room/1", "--json",
                                     "-u", lab.url, "-t", "demo", "-p", "name=me")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


# -- join: header, channel names, help -----------------------------------------------------


def test_join_header_names_you(cli_env) -> None:
    result = pondctl("join", "/chat/header", "-p", "name=ada", input="/quit\n")
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header.startswith("Joined /chat/header on ws://127.0.0.1:")
    assert " as ada (user id " in header


async def test_join_header_takes_the_name_the_server_tracks(cli_env, start_app) -> None:
    lab = await start_app(build_lab().app)  # tracks {"name": <join param name>}
    result = await asyncio.to_thread(pondctl, "join", "/room/1", "-u", lab.url, "-t", "demo",
                                     "-j", "name=zed", input="/quit\n")
    assert result.exit_code == 0, result.output
    assert " as zed (user id " in result.stdout.splitlines()[0]


@pytest.mark.parametrize("command", [
    ["join", "chat/1"], ["send", "chat/1", "message"], ["request", "chat/1", "ping"],
    ["presence", "chat/1"], ["listen", "chat/1"]])
def test_channel_without_leading_slash_is_refused(command: list[str]) -> None:
    result = pondctl(*command)
    assert result.exit_code == 2
    assert "Invalid value for 'CHANNEL': 'chat/1' does not start with '/'" in result.stderr
    assert "try '/chat/1'" in result.stderr


def test_join_command_refuses_a_channel_without_slash_and_stays(cli_env) -> None:
    result = pondctl("join", "/chat/stay", input="/join chat/2\n/presence\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "✗ 'chat/2' does not start with '/' (channel names are paths: try '/chat/2')" in \
        result.stdout
    assert "/chat/stay: 1 present" in result.stdout  # still in the first channel


def test_join_help_lists_the_session_commands(cli_env) -> None:
    from pondsocket_tools.cli_client.interactive import SESSION_COMMANDS

    help_text = pondctl("join", "--help").stdout
    assert "/join CHANNEL" in help_text
    for usage, text in SESSION_COMMANDS:
        assert f"{usage:<22} {text}" in help_text, usage
    session = pondctl("join", "/chat/help", input="/help\n/quit\n")
    for usage, text in SESSION_COMMANDS:
        assert f"{usage:<22} {text}" in session.stdout, usage


# -- config file and environment ----------------------------------------------------------


def test_config_file(cli_env, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PONDCTL_URL")
    monkeypatch.delenv("PONDCTL_TOKEN")
    config = tmp_path / "pondctl.toml"
    config.write_text(f'url = "{cli_env.url}"\ntoken = "demo"\n[params]\nname = "cfg"\n')
    result = pondctl("listen", "/chat/config", "--json", "-n", "1", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["payload"]["changed"]["name"] == "cfg"  # its own JOIN
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


# -- a closed output pipe -------------------------------------------------------------------


def read_first_line(stream: Any) -> bytes:
    """The first line a process writes to ``stream`` (a binary pipe), with a bounded wait."""
    import select

    data = b""
    deadline = WAIT
    while b"\n" not in data:
        ready, _, _ = select.select([stream], [], [], deadline)
        assert ready, f"no line within {WAIT}s: {data!r}"
        chunk = os.read(stream.fileno(), 4096)
        assert chunk, f"the output ended before a line: {data!r}"
        data += chunk
    return data


@pytest.mark.parametrize("args", [
    ["listen", "/chat/pipe", "--json"],
    ["listen", "/chat/pipe"],
    ["join", "/chat/pipe"],
], ids=["listen-json", "listen", "join"])
def test_closed_output_pipe_ends_quietly(cli_env, args: list[str]) -> None:
    """``pondctl listen --json | head -1``: when the reader goes, the command ends with 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pondsocket_tools.cli", *args, "-p", "name=piped"], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE)
    try:
        first = read_first_line(proc.stdout)  # listen: its own JOIN; join: the header
        assert first.strip()
        assert proc.stdout is not None
        proc.stdout.close()  # the reader has had enough, like head after its lines
        # The next frame it prints finds the pipe closed.
        assert pondctl("send", "/chat/pipe", "message", '{"text": "more"}').exit_code == 0
        code = proc.wait(timeout=WAIT)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
        assert proc.stdin is not None
        proc.stdin.close()  # join: standard input stays open until here (no end of input)
    assert code == 0, stderr
    assert "Error" not in stderr and "BrokenPipe" not in stderr and "Traceback" not in stderr
