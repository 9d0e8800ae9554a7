"""Bad values for the hardening settings get clear answers, and the log filter keeps what
uvicorn's formatters rely on."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pondsocket.asgi.redact import DEFAULT_REDACTED_PARAMS, RedactQueryFilter
from pondsocket.asgi.uvicorn import HandshakeLimits, http_protocol
from pondsocket_tools.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "message"), [
    (["--handshake-timeout", "0"], "Invalid value for '--handshake-timeout'"),
    (["--max-head-line", "100"], "Invalid value for '--max-head-line'"),
    (["--max-headers", "0"], "Invalid value for '--max-headers'"),
    (["--redact-param", "a b"], "Invalid value for --redact-param: not a query parameter "
                                "name: 'a b'"),
])
@pytest.mark.parametrize("command", [["serve", "tests.asgi.serve_target:pond"], ["demo"]])
def test_bad_options_are_refused_before_anything_starts(monkeypatch, command, args, message):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, [*command, *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("env", "message"), [
    ({"PONDSOCKET_HANDSHAKE_TIMEOUT": "soon"},
     "PONDSOCKET_HANDSHAKE_TIMEOUT must be a number, got 'soon'"),
    ({"PONDSOCKET_MAX_HEADERS": "0"},
     "max_headers must be at least 1, got 0 (set by PONDSOCKET_MAX_HEADERS)"),
])
def test_a_bad_environment_stops_the_import(env, message):
    # What plain uvicorn does with --http pondsocket.asgi.uvicorn:PondHTTPProtocol.
    result = subprocess.run([sys.executable, "-c", "import pondsocket.asgi.uvicorn"],
                            env={"PATH": "", **env}, capture_output=True, text=True, cwd=ROOT,
                            timeout=60)
    assert result.returncode == 1
    assert f"ValueError: {message}" in result.stderr


def test_limits_and_parsers_are_checked():
    with pytest.raises(ValueError, match="handshake_timeout must be above 0"):
        HandshakeLimits(handshake_timeout=-1)
    with pytest.raises(ValueError, match="parser must be 'auto', 'httptools' or 'h11'"):
        http_protocol(None, "zttp")
    assert HandshakeLimits.from_env({"PONDSOCKET_HANDSHAKE_TIMEOUT": "2.5"}) == \
        HandshakeLimits(handshake_timeout=2.5)
    assert HandshakeLimits.from_env(HandshakeLimits(3, 1000, 7).to_env()) == \
        HandshakeLimits(3, 1000, 7)


def test_the_filter_redacts_arguments_in_place():
    # uvicorn's access formatter unpacks the record's arguments by position.
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1,
                               '%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5", "GET",
                               "/s?name=a&TOKEN=t1&ticket=t2&x=1", "1.1", 200), None)
    assert RedactQueryFilter(extra_names=["ticket"]).filter(record) is True
    assert record.args == ("127.0.0.1:5", "GET",
                           "/s?name=a&TOKEN=[redacted]&ticket=[redacted]&x=1", "1.1", 200)
    # names that only end like a default one stay
    assert RedactQueryFilter().redact("/s?mytoken=a&token=b") == "/s?mytoken=a&token=[redacted]"
    assert "token" in DEFAULT_REDACTED_PARAMS
