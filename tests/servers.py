"""Starting the real servers the tests run against: one module, used by every test package.

In the test's event loop (a task, ephemeral port, stopped by the caller or a fixture):

* :func:`start_uvicorn` - ``uvicorn.Server`` with any ``uvicorn.Config`` settings, or with
  ``pond_server=True`` pondctl's server (:func:`pondsocket_tools.serve.create_server`).
* :func:`start_pondctl_uvicorn` - uvicorn exactly as ``pondctl serve`` runs it: pondctl's
  server with :func:`pondsocket_tools.serve.uvicorn_settings`.
* :func:`start_direct` - the direct ``websockets`` server, :func:`pondsocket.wsserver.serve`.
* :func:`start_ws_server` - one of :data:`WS_SERVERS` by name: every server the project offers
  for WebSocket, so that a test parametrised over it holds for all of them.

In a subprocess: :class:`ServerProcess` runs a command and waits (bounded) until its port
accepts connections; :func:`wait_for_port` / :func:`await_port` and :func:`stop_process` are
its parts, for starters that need them alone.

Start-up has no event to await from outside a process (or from uvicorn), so these are the only
places that poll: a port or a flag, every few milliseconds, with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from websockets.asyncio.server import Server

from pondsocket import PondSocket
from pondsocket.wsserver import serve as serve_direct
from pondsocket_tools.serve import create_server, find_pond, uvicorn_settings
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
START_TIMEOUT = 20.0  # a process to listen (2 slow cores, several starting at once)
STOP_TIMEOUT = 10.0  # a process to exit after its signal, an in-process server to stop

#: The WebSocket servers the project offers, as :func:`start_ws_server` names them: uvicorn
#: as ``pondctl serve`` runs it, and the direct server of :mod:`pondsocket.wsserver`.
WS_SERVERS = ("uvicorn", "websockets")


# -- in-process servers -----------------------------------------------------------------------


class InProcessServer:
    """A server running as a task of the test's event loop, on ``127.0.0.1:<port>``."""

    kind = ""

    def __init__(self, task: asyncio.Task[None], port: int, pond: PondSocket | None) -> None:
        self.task = task
        self.port = port
        self.pond = pond

    def ws_url(self, path: str) -> str:
        return f"ws://{HOST}:{self.port}{path}"

    def http_url(self, path: str) -> str:
        return f"http://{HOST}:{self.port}{path}"

    async def stop(self) -> None:
        """Shut down as on SIGTERM (bounded); a second call returns at once."""
        raise NotImplementedError


class UvicornServer(InProcessServer):
    """A ``uvicorn.Server`` (or pondctl's subclass) started by :func:`start_uvicorn`."""

    kind = "uvicorn"

    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], port: int,
                 app: Any) -> None:
        super().__init__(task, port, find_pond(app))
        self.server = server
        self.app = app

    async def stop(self) -> None:
        if not self.task.done():
            self.server.should_exit = True
        async with asyncio.timeout(STOP_TIMEOUT):
            await self.task


class DirectServer(InProcessServer):
    """:func:`pondsocket.wsserver.serve` started by :func:`start_direct`."""

    kind = "websockets"

    def __init__(self, server: Server, task: asyncio.Task[None], port: int,
                 pond: PondSocket) -> None:
        super().__init__(task, port, pond)
        self.server = server

    async def stop(self) -> None:
        # serve() runs until cancelled, then closes the pond: the documented way to stop it.
        self.task.cancel()
        async with asyncio.timeout(STOP_TIMEOUT):
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


async def start_uvicorn(app: Any, *, pond_server: bool = False, **config: Any
                        ) -> UvicornServer:
    """Serve ``app`` with uvicorn on an ephemeral port; ``config`` goes to ``uvicorn.Config``
    (defaults: lifespan on, log level warning, no logging set-up, a 3 s graceful-shutdown
    bound so that a stream left open cannot hang a teardown)."""
    settings: dict[str, Any] = {"host": HOST, "port": 0, "lifespan": "on",
                                "log_level": "warning", "log_config": None,
                                "timeout_graceful_shutdown": 3}
    settings.update(config)
    server: uvicorn.Server
    if pond_server:  # closes the PondSocket first when shutting down
        server = create_server(app, **settings)
    else:
        server = uvicorn.Server(uvicorn.Config(app, **settings))
    task = asyncio.get_running_loop().create_task(server.serve())
    async with asyncio.timeout(START_TIMEOUT):
        while not server.started:
            if task.done():  # failed to start: raise its error
                await task
                raise RuntimeError("uvicorn exited before it started")
            await asyncio.sleep(0.005)  # uvicorn offers no start-up event
    port = server.servers[0].sockets[0].getsockname()[1]
    return UvicornServer(server, task, port, app)


async def start_pondctl_uvicorn(app: Any, **config: Any) -> UvicornServer:
    """uvicorn as ``pondctl serve`` runs it (its settings and its server), on an ephemeral
    port; ``config`` overrides or adds ``uvicorn.Config`` settings."""
    settings = uvicorn_settings(app, HOST, 0, "warning")
    settings.update(config)
    return await start_uvicorn(app, pond_server=True, **settings)


async def start_direct(pond: PondSocket, **kwargs: Any) -> DirectServer:
    """:func:`pondsocket.wsserver.serve` for ``pond`` on an ephemeral port, with its own
    defaults; ``kwargs`` go to ``websockets.serve``."""
    ready: asyncio.Future[Server] = asyncio.get_running_loop().create_future()
    task = asyncio.get_running_loop().create_task(
        serve_direct(pond, HOST, 0, ready=ready, **kwargs))
    started: set[asyncio.Future[Any]] = {task, ready}
    done, _ = await asyncio.wait(started, timeout=START_TIMEOUT,
                                 return_when=asyncio.FIRST_COMPLETED)
    if not done:
        task.cancel()
        raise RuntimeError(f"the direct server did not listen within {START_TIMEOUT} s")
    if not ready.done():  # serve() ended before it listened: raise its error
        await task
        raise RuntimeError("the direct server exited before it listened")
    server = ready.result()
    port = next(iter(server.sockets)).getsockname()[1]
    return DirectServer(server, task, port, pond)


async def start_ws_server(kind: str, app: Any, **config: Any) -> InProcessServer:
    """Start the WebSocket server named ``kind`` (one of :data:`WS_SERVERS`) for ``app``, a
    ``PondASGIApp`` or a ``PondSocket``; ``config`` goes to that server."""
    if kind == "uvicorn":
        if isinstance(app, PondSocket):
            from pondsocket_tools.serve import as_asgi

            app = as_asgi(app)
        return await start_pondctl_uvicorn(app, **config)
    if kind == "websockets":
        pond = app if isinstance(app, PondSocket) else find_pond(app)
        if pond is None:
            raise TypeError(f"the direct server serves a PondSocket, not {app!r}")
        return await start_direct(pond, **config)
    raise ValueError(f"unknown WebSocket server {kind!r}; expected one of {WS_SERVERS}")


# -- subprocesses ------------------------------------------------------------------------------


def port_open(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port`` right now."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _exit_code(proc: subprocess.Popen[bytes] | None) -> int | None:
    return None if proc is None else proc.poll()


def _check_still_starting(port: int, proc: subprocess.Popen[bytes] | None, late: bool,
                          timeout: float, what: str, log: Path | None) -> None:
    """Raise when ``proc`` exited before listening, or when it is ``late``."""
    code = _exit_code(proc)
    if code is not None:
        raise RuntimeError(f"{what} exited with {code} before listening on port "
                           f"{port}{_tail(log)}")
    if late:
        raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s"
                           f"{_tail(log)}")


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None = None, *,
                  timeout: float = START_TIMEOUT, what: str = "the server",
                  log: Path | None = None) -> None:
    """Block until ``port`` accepts connections; fail at once if ``proc`` exits first, or
    after ``timeout`` seconds. The error names ``what`` and ends with ``log``'s tail."""
    deadline = time.monotonic() + timeout
    while not port_open(port):
        _check_still_starting(port, proc, time.monotonic() > deadline, timeout, what, log)
        time.sleep(0.02)


async def await_port(port: int, proc: subprocess.Popen[bytes] | None = None, *,
                     timeout: float = START_TIMEOUT, what: str = "the server",
                     log: Path | None = None) -> None:
    """:func:`wait_for_port` without blocking the event loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(port_open, port):
        _check_still_starting(port, proc, loop.time() > deadline, timeout, what, log)
        await asyncio.sleep(0.02)


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM,
                 timeout: float = STOP_TIMEOUT) -> int | None:
    """Send ``sig`` (after SIGCONT: a paused process cannot act on it), wait up to
    ``timeout`` seconds, then kill. Returns the exit code (None if it was not running)."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGCONT)
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(timeout=5)


def _tail(log: Path | None, lines: int = 40) -> str:
    if log is None:
        return ""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    return "\n--- log tail ---\n" + "\n".join(text.splitlines()[-lines:])


class ServerProcess:
    """A server in a subprocess, started on a fixed port and restartable in place.

    ``command`` may contain ``{port}``, replaced by the port (a free one unless given). Output
    goes to ``log`` (appended, and shown when start-up fails) or is discarded. ``env`` is
    added to the environment. The process gets a session of its own, so a signal meant for
    the test run does not reach it.
    """

    def __init__(self, command: Sequence[str], *, port: int | None = None,
                 env: dict[str, str] | None = None, log: Path | None = None,
                 cwd: Path = ROOT, what: str | None = None,
                 start_timeout: float = START_TIMEOUT) -> None:
        self.port = port or free_port()
        self.command = [part.replace("{port}", str(self.port)) for part in command]
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.cwd = cwd
        self.what = what or Path(self.command[0]).name
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for its port."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if self.log is not None:
            with self.log.open("ab") as out:  # the child keeps its own copy of the fd
                self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                             stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT,
                                             start_new_session=True)
        else:
            self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        return self.proc

    def start(self) -> None:
        """Start and block until the port accepts connections (killed if it never does)."""
        self.spawn()
        try:
            wait_for_port(self.port, self.proc, timeout=self.start_timeout, what=self.what,
                          log=self.log)
        except RuntimeError:
            self.stop(signal.SIGKILL)
            raise

    async def astart(self) -> None:
        """:meth:`start` without blocking the event loop."""
        self.spawn()
        try:
            await await_port(self.port, self.proc, timeout=self.start_timeout, what=self.what,
                             log=self.log)
        except RuntimeError:
            self.stop(signal.SIGKILL)
            raise

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """See :func:`stop_process`."""
        return stop_process(self.proc, sig, timeout)

    async def astop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT
                    ) -> int | None:
        return await asyncio.to_thread(self.stop, sig, timeout)

    def restart(self, sig: int = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log, lines).removeprefix("\n--- log tail ---\n")
