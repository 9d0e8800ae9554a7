"""Starting each server under test in its own process, and reading its CPU and memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
UPSTREAM_VENV = CACHE / "upstream-venv"
UPSTREAM_PACKAGES = ["pondsocket==0.0.7", "pondsocket-asgi==0.0.6", "uvicorn[standard]>=0.30"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ensure_upstream_venv() -> Path:
    """A venv with upstream pondsocket + pondsocket-asgi (installed once, from PyPI)."""
    python = UPSTREAM_VENV / "bin" / "python"
    marker = UPSTREAM_VENV / ".installed"
    if not marker.exists():
        venv.create(UPSTREAM_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *UPSTREAM_PACKAGES],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker.touch()
    return python


@dataclass
class ServerSpec:
    """How to start one server: a name, a command (with ``{port}``), a directory, a path."""

    name: str
    command: list[str]
    cwd: Path
    path: str = "/ws"


def specs(include_upstream: bool) -> list[ServerSpec]:
    uvicorn = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--log-level",
               "warning", "--loop", "uvloop", "--ws-max-size", "4194304"]
    out = [
        ServerSpec("websockets ceiling", [sys.executable, "-m", "benchmarks.servers.ceiling",
                                          "{port}"], ROOT),
        ServerSpec("pondsocket ASGI+uvicorn", [sys.executable, *uvicorn,
                                               "benchmarks.servers.pond_app:app"], ROOT),
        ServerSpec("pondsocket wsserver", [sys.executable, "-m", "benchmarks.servers.pond_app",
                                           "{port}"], ROOT),
    ]
    if include_upstream:
        python = ensure_upstream_venv()
        out.append(ServerSpec("upstream pondsocket 0.0.7", [str(python), *uvicorn,
                                                             "upstream_app:app"],
                              ROOT / "benchmarks" / "servers"))
    return out


class ServerProcess:
    """A running server: its pid, port, and /proc readings."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.port = free_port()
        command = [part.replace("{port}", str(self.port)) for part in spec.command]
        env = {**os.environ, "PYTHONPATH": str(ROOT) if spec.cwd == ROOT else ""}
        self.proc = subprocess.Popen(command, cwd=spec.cwd, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.spec.path}"

    def _wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited: "
                                   f"{self.proc.stderr.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.spec.name} did not listen within {timeout}s")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_bytes(self) -> int:
        return int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1]) * PAGE

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
