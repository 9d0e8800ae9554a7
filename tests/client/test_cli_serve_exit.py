"""``pondctl serve`` exits with status 3 when uvicorn cannot start (docs/cli.md, "pondctl
serve"): a real ``pondctl`` process against a port another socket holds, and against an app
whose start-up fails."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.support import free_port

APP = """\
from pondsocket import PondSocket

pond = PondSocket()


async def failing_startup(scope, receive, send):
    assert scope["type"] == "lifespan"
    await receive()
    await send({"type": "lifespan.startup.failed", "message": "no database"})
"""


def pondctl_serve(app_dir: Path, target: str, port: int) -> subprocess.CompletedProcess[str]:
    # The target is imported from the working directory, as a user runs it.
    return subprocess.run(
        [sys.executable, "-m", "pondsocket_tools.cli", "serve",
         target, "--port", str(port), "--log-level", "info"],
        cwd=app_dir, capture_output=True, text=True, timeout=30)


def test_port_already_bound_exits_3(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = pondctl_serve(tmp_path, "app:pond", port)
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "address already in use" in result.stderr.lower(), result.stderr


def test_failed_startup_exits_3(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    # A free port: only the start-up can fail.
    result = pondctl_serve(tmp_path, "app:failing_startup", free_port())
    assert result.returncode == 3, (result.returncode, result.stderr)
    assert "no database" in result.stderr, result.stderr
