"""``pondctl load`` without a server: registration, argument errors, the tracker."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pondsocket_tools import cli_load
from pondsocket_tools.cli import main
from tests.support import free_port

from .conftest import LOADTESTS, ROOT, needs_locust, pondctl_load


def test_load_is_a_pondctl_command() -> None:
    assert main.get_command(None, "load") is cli_load.load  # type: ignore[arg-type]


def test_every_scenario_has_a_locustfile() -> None:
    for name in cli_load.SCENARIOS:
        assert cli_load.resolve_scenario(name) == LOADTESTS / f"{name}.py"


def test_unknown_scenario_is_a_clear_error() -> None:
    result = CliRunner().invoke(cli_load.load, ["nope"])
    assert result.exit_code == 2
    assert "unknown scenario 'nope'" in result.output
    assert "fanout" in result.output


def test_missing_locust_prints_an_install_hint(monkeypatch) -> None:
    monkeypatch.setattr(cli_load, "locust_available", lambda: False)
    result = CliRunner().invoke(cli_load.load, ["rooms"])
    assert result.exit_code == 1
    assert "Locust is not installed" in result.output
    assert "pondsocket[load]" in result.output


def test_old_users_flag_is_refused_with_a_hint() -> None:
    result = CliRunner().invoke(cli_load.load, ["rooms", "-u", "200"])
    assert result.exit_code == 2
    assert "'200' is not a ws://, wss://, http:// or https:// URL" in result.output
    assert "-u is the URL, as in every pondctl command: the number of users is -c/--users" \
        in result.output


def test_old_duration_flag_is_refused_with_a_hint() -> None:
    result = CliRunner().invoke(cli_load.load, ["rooms", "-t", "1m30s"])
    assert result.exit_code == 2
    assert "'1m30s' looks like a run time: -t is the token" in result.output
    assert "the run time is -d/--duration" in result.output


@pytest.mark.parametrize("duration", ["1.5m", "soon", "10x", ""])
def test_bad_duration_is_a_usage_error(duration: str) -> None:
    result = CliRunner().invoke(cli_load.load, ["rooms", "-d", duration])
    assert result.exit_code == 2
    assert f"{duration!r} is not a run time" in result.output and "1h30m" in result.output


def test_url_with_a_query_is_refused() -> None:
    result = CliRunner().invoke(cli_load.load, ["rooms", "-u", "ws://h:1/api/socket?token=x"])
    assert result.exit_code == 2 and "give the token with -t/--token" in result.output


def test_flags_mean_what_they_mean_in_the_client_commands(monkeypatch, tmp_path) -> None:
    """-u is the endpoint URL and -t the token, as for connect/join/...; -c users, -d time."""
    commands: list[list[str]] = []

    def fake_run(command: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)  # Locust itself runs in tests/load/test_scenarios.py
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="")

    monkeypatch.setattr(cli_load, "locust_available", lambda: True)
    monkeypatch.setattr(cli_load.subprocess, "run", fake_run)
    result = CliRunner().invoke(cli_load.load, [
        "rooms", "-u", "wss://example.com:9443/ws/socket", "-t", "s3cret", "-c", "7",
        "-r", "3", "-d", "2m", "--", "--rooms", "4", "-u", "9"])
    assert result.exit_code == 1  # the fake Locust wrote no statistics
    assert "running rooms.py: 9 users" in result.output  # Locust's -u after -- wins
    command = commands[0]

    def value(flag: str) -> str:
        return command[command.index(flag) + 1]

    assert value("--host") == "wss://example.com:9443"
    assert value("--endpoint") == "/ws/socket"
    assert value("--token") == "s3cret"
    assert (value("-u"), value("-r"), value("-t")) == ("7", "3.0", "2m")
    assert command[-4:] == ["--rooms", "4", "-u", "9"]  # after ours: Locust's last value wins


def test_url_without_path_keeps_the_scenarios_endpoint(tmp_path) -> None:
    command = cli_load.locust_command(
        LOADTESTS / "rooms.py", url="ws://127.0.0.1:8765", token=None, users=1,
        spawn_rate=1, duration="1s", prefix=tmp_path / "rooms", locust_args=[])
    assert "--endpoint" not in command and "--token" not in command
    assert command[command.index("--host") + 1] == "ws://127.0.0.1:8765"


@needs_locust
def test_locust_names_after_double_dash_still_pass(demo_url: str, tmp_path) -> None:
    """``-- -u 3 -t 3s``: Locust's own -u/-t reach Locust (3 users connect)."""
    result = pondctl_load("request_reply", "-u", f"{demo_url}/api/socket", "-t", "demo",
                          "-c", "1", "-r", "10", "-d", "30s", "--csv-dir", str(tmp_path),
                          "--", "-u", "3", "-t", "3s", "--request-rate", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "request_reply: 3 users, 3s" in result.stdout
    with (tmp_path / "request_reply_stats.csv").open(newline="") as fh:
        rows = {(row["Type"], row["Name"]): row for row in csv.DictReader(fh)}
    assert rows[("connect", "connect")]["Request Count"] == "3"


TRACKER_CHECK = """
import sys
sys.path.insert(0, sys.argv[1])
from pondsocket_user import SequenceTracker, decode_message, encode_message

t = SequenceTracker()
results = [t.check("/c", "p", s) for s in (5, 6, 9, 9, 10)]
assert results == [None, None, ("lost", 2), ("duplicate", 9), None], results
assert t.check("/other", "p", 0) is None
t.forget("/c")
assert t.check("/c", "p", 0) is None
publisher, seq, sent = decode_message(encode_message("pub", 42, 10))
assert (publisher, seq) == ("pub", 42) and sent > 0
assert decode_message("hello") is None
print("ok")
"""


@needs_locust
def test_sequence_tracker_in_a_subprocess() -> None:
    # pondsocket_user imports locust (gevent monkey-patching): never import it here.
    result = subprocess.run([sys.executable, "-c", TRACKER_CHECK, str(LOADTESTS)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


@needs_locust
def test_closed_output_pipe_ends_load_quietly() -> None:
    """``pondctl load ... | head`` with the reader gone: status 0, no traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # a reader that has already gone: the first line written fails
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pondsocket_tools.cli", "load", "rooms", "-u",
             f"ws://127.0.0.1:{free_port()}/api/socket", "-d", "1s"],
            cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
            check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Error" not in done.stderr
