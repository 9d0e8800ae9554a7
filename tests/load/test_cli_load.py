"""``pondctl load`` without a server: registration, argument errors, the tracker."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from pondsocket_tools import cli_load
from pondsocket_tools.cli import main

from .conftest import LOADTESTS, ROOT, needs_locust


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
