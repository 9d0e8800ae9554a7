"""``pondctl join`` in a real terminal (tmux), chatting with a second client (the SDK).

Needs tmux (``apt-get install -y tmux``; ``scripts/test`` installs it): without it these tests
fail, unless ``PONDSOCKET_TEST_OPTIONAL=tmux`` says to skip them. Set
``PONDCTL_TMUX_TRANSCRIPT=path`` to keep the final screen.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import needs

from .conftest import TIMEOUT

pytestmark = needs("tmux", shutil.which("tmux") is not None, "apt-get install -y tmux")

WAIT = 10.0


class Pane:
    """A detached tmux session on a private server socket, running one command."""

    def __init__(self, command: str, *, width: int = 150, height: int = 45) -> None:
        self.socket = f"pondctl-test-{os.getpid()}-{time.monotonic_ns()}"
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                   command)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                              text=True, timeout=WAIT, check=True)
        return done.stdout

    def screen(self) -> str:
        """The visible screen plus scroll-back, as plain text."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-500")

    def wait_for(self, text: str, timeout: float = WAIT) -> str:
        """Poll the screen (bounded) until ``text`` shows up."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} did not appear within {timeout}s:\n{screen}")
            time.sleep(0.05)  # polling a terminal: there is no event to wait on

    def type(self, line: str) -> None:
        self._tmux("send-keys", "-t", "t", "-l", line)
        self._tmux("send-keys", "-t", "t", "Enter")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=WAIT, check=False)


@pytest.fixture
def pane_factory():
    panes: list[Pane] = []

    def start(command: str) -> Pane:
        pane = Pane(command)
        panes.append(pane)
        return pane

    yield start
    for pane in panes:
        pane.kill()


def join_command(url: str, channel: str, *extra: str) -> str:
    pondctl = Path(sys.executable).parent / "pondctl"
    args = " ".join(shlex.quote(a) for a in [str(pondctl), "join", channel, *extra])
    return (f"env PONDCTL_URL={shlex.quote(url)} PONDCTL_TOKEN=demo {args}; "
            "echo \"[pondctl exited with $?]\"; sleep 600")


async def test_interactive_join_talks_to_a_second_client(demo_process, pane_factory,
                                                         make_client, tmp_path) -> None:
    pane = pane_factory(join_command(demo_process.url, "/chat/tmux", "-p", "name=ada"))
    wait = asyncio.to_thread
    await wait(pane.wait_for, "Joined /chat/tmux")
    await wait(pane.wait_for, " as ada (user id ")  # the header names you
    await wait(pane.wait_for, "→ ada joined (online)")

    bob = make_client(demo_process.url, {"token": "demo", "name": "bob"})
    chat = await bob.join("/chat/tmux")
    messages = chat.messages("message")
    presence = chat.presence_events()
    await wait(pane.wait_for, "→ bob joined (online)  [2 here]")

    await chat.send("message", {"text": "hello ada, this is bob"})
    await wait(pane.wait_for, "bob: hello ada, this is bob")
    assert (await messages.get(TIMEOUT)).payload["from"] == "bob"  # its own broadcast

    pane.type("hi bob, typed in a terminal")
    got = await messages.get(TIMEOUT)
    assert (got.payload["from"], got.payload["text"]) == ("ada", "hi bob, typed in a terminal")
    await wait(pane.wait_for, "ada: hi bob, typed in a terminal")

    pane.type("/presence")
    screen = await wait(pane.wait_for, "/chat/tmux: 2 present")
    assert "│ bob" in screen and "│ ada" in screen

    pane.type('/request ping {"from": "tmux"}')
    await wait(pane.wait_for, '↩ pong')
    pane.type('/event status {"status": "away"}')
    update = await presence.get(TIMEOUT)
    while update.kind != "UPDATE":
        update = await presence.get(TIMEOUT)
    assert update.changed == {"name": "ada", "status": "away", "role": "member"}
    await wait(pane.wait_for, "~ ada updated:")

    pane.type("/event nope {}")
    await wait(pane.wait_for, "✗ error 404 HANDLER_NOT_FOUND on /chat/tmux")
    pane.type("{not a command")
    assert (await messages.get(TIMEOUT)).payload["text"] == "{not a command"
    pane.type("/event status {bad json")
    await wait(pane.wait_for, "✗ not valid JSON")

    # /join switches channels: bob sees ada leave, and come back; a declined join stays.
    pane.type("/join /nowhere")
    await wait(pane.wait_for, "cannot join /nowhere")
    pane.type("/join /chat/tmux-2")
    await wait(pane.wait_for, "Joined /chat/tmux-2 (left /chat/tmux)")
    left = await presence.get(TIMEOUT)
    assert (left.kind, left.changed["name"]) == ("LEAVE", "ada")
    pane.type("/join /chat/tmux")
    await wait(pane.wait_for, "Joined /chat/tmux (left /chat/tmux-2)")
    back = await presence.get(TIMEOUT)
    assert (back.kind, back.changed["name"]) == ("JOIN", "ada")
    pane.type("typed after coming back")
    assert (await messages.get(TIMEOUT)).payload["text"] == "typed after coming back"

    pane.type("/quit")
    screen = await wait(pane.wait_for, "[pondctl exited with 0]")
    left = await presence.get(TIMEOUT)
    assert (left.kind, left.changed["name"]) == ("LEAVE", "ada")
    transcript = os.environ.get("PONDCTL_TMUX_TRANSCRIPT")
    (Path(transcript) if transcript else tmp_path / "transcript.txt").write_text(screen)


async def test_interactive_join_is_evicted(demo_process, pane_factory, make_client) -> None:
    pane = pane_factory(join_command(demo_process.url, "/chat/tmux-kick", "-p", "name=eve"))
    wait = asyncio.to_thread
    await wait(pane.wait_for, "→ eve joined")
    mod = make_client(demo_process.url, {"token": "demo-mod", "name": "mod"})
    chat = await mod.join("/chat/tmux-kick")
    reply = await chat.request("kick", {"name": "eve"})
    assert reply.payload["count"] == 1
    screen = await wait(pane.wait_for, "[pondctl exited with 8]")
    assert "Error: /chat/tmux-kick: evicted by the server: Kicked by mod" in screen
