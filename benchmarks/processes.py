"""Starting each server under test in its own process, and reading its CPU and memory."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "bench"
UPSTREAM_VENV = CACHE / "upstream-venv"
UPSTREAM_PACKAGES = ["pondsocket==0.0.7", "pondsocket-asgi==0.0.6", "uvicorn[standard]>=0.30"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SCHEDSTAT = Path("/proc/self/schedstat").exists()  # kernels without CONFIG_SCHEDSTATS lack it

# The extra command-line arguments that put each kind of server in a compression mode
# (benchmarks.settings); a mode a server lacks is "not available".
CEILING_MODES = {"off": ["none"], "per-recipient": ["deflate"], "default": ["none"]}
WSSERVER_MODES = {"off": ["none"], "per-recipient": ["deflate"],
                  "compress-once": ["compress-once"], "default": []}
# picows has no permessage-deflate: it never compresses, whatever the clients offer.
PICOWS_MODES = {"off": [], "default": []}
UVICORN_MODES = {"off": ["--ws-per-message-deflate", "false"],
                 "per-recipient": ["--ws-per-message-deflate", "true"], "default": []}
# pondctl serve's --ws-per-message-deflate is compress-once (PondWebSocketProtocol), so its
# ASGI row has no per-recipient mode (plain uvicorn's compression is that).
PONDCTL_MODES = {"off": ["--no-ws-per-message-deflate"],
                 "compress-once": ["--ws-per-message-deflate"], "default": []}


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
    """How to start one server: a name, a command (with ``{port}``), a directory, a path.

    ``nodes`` > 1 starts that many processes of the command plus a ``redis-server`` they
    share (``REDIS_URL`` in their environment): a cluster. ``modes`` maps a compression
    mode (``Setting.server_mode``) to the arguments appended to the command for it.
    """

    name: str
    command: list[str]
    cwd: Path
    path: str = "/ws"
    nodes: int = 1
    modes: dict[str, list[str]] = field(default_factory=lambda: {"default": []})
    #: Scenarios it runs in (names containing one of these); empty: all of them.
    only: tuple[str, ...] = ()
    #: Whether it has this project's presence (diffs, coalescing): the big-rooms scenarios
    #: run only on such servers.
    presence: bool = False

    def runs(self, scenario: str) -> bool:
        """Whether this server has a row in ``scenario``."""
        return not self.only or any(part in scenario for part in self.only)

    def command_for(self, mode: str) -> list[str] | None:
        """The command line for ``mode``, or None when this server cannot run in it."""
        extra = self.modes.get(mode)
        return None if extra is None else [*self.command, *extra]


def specs(include_upstream: bool, include_cluster: bool = True) -> list[ServerSpec]:
    """Every server under test; the first is the ceiling the others are compared with."""
    uvicorn = ["-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "--log-level",
               "warning", "--loop", "uvloop", "--ws-max-size", "4194304"]
    wsserver = [sys.executable, "-m", "benchmarks.servers.pond_app", "{port}"]
    out = [
        ServerSpec("websockets ceiling", [sys.executable, "-m", "benchmarks.servers.ceiling",
                                          "{port}"], ROOT, modes=CEILING_MODES),
        # The ASGI path as users serve it: pondctl serve runs uvicorn with this project's
        # protocol classes (and uvloop, httptools, permessage-deflate off by default).
        ServerSpec("pondsocket ASGI (pondctl serve)",
                   [sys.executable, "-m", "pondsocket_tools.cli", "serve",
                    "benchmarks.servers.pond_app:pond", "--port", "{port}", "--log-level",
                    "warning"], ROOT, modes=PONDCTL_MODES, presence=True),
        ServerSpec("pondsocket wsserver", wsserver, ROOT, modes=WSSERVER_MODES, presence=True),
        # What uvicorn costs without this project: a bare ASGI relay under pondctl serve's
        # uvicorn settings, for the ASGI path's own share of memory and CPU.
        ServerSpec("uvicorn bare ASGI relay",
                   [sys.executable, *uvicorn, "--http", "pondsocket.asgi.uvicorn:PondHTTPProtocol",
                    "--ws", "pondsocket.asgi.uvicorn:PondWebSocketProtocol",
                    "benchmarks.servers.asgi_relay:app"], ROOT,
                   modes={"off": ["--ws-per-message-deflate", "false"],
                          "default": ["--ws-per-message-deflate", "false"]},
                   only=("fan-out", "idle")),
    ]
    if importlib.util.find_spec("picows") is not None:  # a candidate direct server's ceiling
        out.append(ServerSpec("picows relay", [sys.executable, "-m",
                                               "benchmarks.servers.picows_relay", "{port}"],
                              ROOT, modes=PICOWS_MODES))
    if include_cluster and shutil.which("redis-server"):
        out.append(ServerSpec("pondsocket wsserver x2 + redis", wsserver, ROOT, nodes=2,
                              modes=WSSERVER_MODES))
    if include_upstream:
        python = ensure_upstream_venv()
        out.append(ServerSpec("upstream pondsocket 0.0.7", [str(python), *uvicorn,
                                                             "upstream_app:app"],
                              ROOT / "benchmarks" / "servers", modes=UVICORN_MODES))
    return out


class _Process:
    """One process listening on a port, with its /proc readings."""

    def __init__(self, name: str, command: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = free_port()
        command = [part.replace("{port}", str(self.port)) for part in command]
        self.proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._wait_listening()

    def _wait_listening(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: "
                                   f"{self.proc.stderr.read().decode()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen within {timeout}s")

    def cpu_seconds(self) -> float:
        """CPU time so far: nanoseconds from each thread's schedstat (clock ticks are 10 ms,
        too coarse for a short row), or utime + stime where schedstat is missing."""
        pid = self.proc.pid
        if not SCHEDSTAT:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLK_TCK
        total = 0
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):  # the thread just exited
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def rss_bytes(self) -> int:
        return int(Path(f"/proc/{self.proc.pid}/statm").read_text().split()[1]) * PAGE

    def stop(self) -> None:
        self.proc.terminate()
        try:  # the process is thrown away: a graceful shutdown stuck on a peer is not waited
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class ServerProcess:
    """A running server under test: one process, or a cluster of nodes and their Redis.

    CPU time and RSS are summed over every process of the server (Redis included).
    """

    def __init__(self, spec: ServerSpec, mode: str = "default",
                 extra_env: dict[str, str] | None = None) -> None:
        """Start ``spec`` in ``mode``; ``extra_env`` adds to every process's environment."""
        command = spec.command_for(mode)
        if command is None:
            raise ValueError(f"{spec.name} has no {mode!r} mode")
        self.spec = spec
        self.mode = mode
        env = {**os.environ, "PYTHONPATH": str(ROOT) if spec.cwd == ROOT else "",
               **(extra_env or {})}
        self.processes: list[_Process] = []
        try:
            if spec.nodes > 1:
                redis = _Process("redis-server", ["redis-server", "--port", "{port}", "--bind",
                                                  "127.0.0.1", "--save", "", "--appendonly",
                                                  "no"], ROOT, env)
                self.processes.append(redis)
                env["REDIS_URL"] = f"redis://127.0.0.1:{redis.port}"
            self.nodes = [_Process(spec.name, command, spec.cwd, env)
                          for _ in range(spec.nodes)]
            self.processes.extend(self.nodes)
        except Exception:
            self.stop()
            raise

    @property
    def urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{node.port}{self.spec.path}" for node in self.nodes]

    @property
    def url(self) -> str:
        return self.urls[0]

    def cpu_seconds(self) -> float:
        return sum(p.cpu_seconds() for p in self.processes)

    def rss_bytes(self) -> int:
        return sum(p.rss_bytes() for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
