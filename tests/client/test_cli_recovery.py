"""``pondctl listen`` and ``pondctl join`` say so when a rejoin could not recover what they
missed: the demo restarted (its history is in memory, so the restart is a new epoch)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from .conftest import REPO
from .test_cli import WAIT, Process


def pondctl_join(env: dict[str, str]) -> tuple[subprocess.Popen[str], Callable[[str], None]]:
    """``pondctl join`` with its standard input kept open (EOF would end the session);
    returns the process and a bounded wait for a line of its output."""
    proc = subprocess.Popen([sys.executable, "-m", "pondsocket_tools.cli", "join", "/chat/lost"],
                            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()

    def wait(text: str) -> None:
        while True:
            line = lines.get(timeout=WAIT)
            assert line is not None, f"exited without printing {text!r}"
            if text in line:
                return

    return proc, wait


@pytest.mark.parametrize("command", ["listen", "join"])
def test_a_rejoin_after_a_restart_prints_that_messages_may_be_missing(
        demo_process_factory, command) -> None:
    server = demo_process_factory()
    env = {**os.environ, "PONDCTL_URL": server.url, "PONDCTL_TOKEN": "demo",
           "PONDCTL_TIMEOUT": "5"}
    if command == "listen":
        listener = Process(["listen", "/chat/lost"], env)
        proc, wait = listener.proc, listener.wait_stderr
        wait("listening on /chat/lost")
    else:
        proc, wait = pondctl_join(env)
        wait("Joined /chat/lost")
    try:
        server.stop(signal.SIGKILL)
        server.start()
        wait("rejoined /chat/lost")
        wait("could not recover the messages missed on /chat/lost (epoch changed)")
    finally:
        proc.kill()
        proc.wait(timeout=WAIT)
