"""The GC freezer of ``pondctl serve`` / ``pondctl demo`` (on unless ``--no-gc-freeze``):
each way of serving runs one while it serves and undoes it when it stops
(docs/big-rooms.md#garbage-collector-pauses)."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from pondsocket import PondSocket
from pondsocket.asgi import PondASGIApp
from pondsocket.gcfreeze import GCFreezer
from pondsocket_tools import serve as serving
from pondsocket_tools.cli import main
from tests.servers import ServerProcess, start_direct, start_pondctl_uvicorn

APP = """\
from pondsocket import PondSocket

pond = PondSocket()


async def accept(ctx):
    ctx.accept()


pond.create_endpoint("/ws", accept)
"""


def freezing() -> bool:
    return GCFreezer._active is not None and gc.get_freeze_count() > 0


@pytest.fixture(autouse=True)
def no_freezer_left():
    yield
    assert GCFreezer._active is None and gc.get_freeze_count() == 0


async def test_the_uvicorn_server_freezes_while_it_serves() -> None:
    pond = PondSocket()
    server = await start_pondctl_uvicorn(PondASGIApp(pond), gc_freeze=True)
    try:
        assert freezing()
    finally:
        await server.stop()
    assert not freezing()


async def test_the_direct_server_freezes_while_it_serves() -> None:
    server = await start_direct(PondSocket(), gc_freeze=True)
    try:
        assert freezing()
    finally:
        await server.stop()


async def test_without_gc_freeze_nothing_is_frozen() -> None:
    server = await start_pondctl_uvicorn(PondASGIApp(PondSocket()))
    try:
        assert not freezing()
    finally:
        await server.stop()


async def test_a_worker_process_freezes_when_told(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    (tmp_path / "gcapp.py").write_text(APP)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(serving.ENV_TARGET, "gcapp:pond")
    monkeypatch.setenv(serving.ENV_GC_FREEZE, "1")
    serving._child_app()  # what uvicorn calls in each --workers worker, in its loop
    try:
        assert freezing()
    finally:
        GCFreezer._active.stop()  # type: ignore[union-attr]


def test_child_settings_tell_the_workers() -> None:
    base = serving.uvicorn_settings(PondASGIApp(PondSocket()), "127.0.0.1", 0, "warning")
    settings = serving.child_settings({**base, serving.GC_FREEZE: True}, "app:pond", None)
    try:
        assert serving.GC_FREEZE not in settings  # not a uvicorn setting
        assert serving.os.environ[serving.ENV_GC_FREEZE] == "1"
        serving.child_settings({**base, serving.GC_FREEZE: False}, "app:pond", None)
        assert serving.ENV_GC_FREEZE not in serving.os.environ
    finally:
        for name in (serving.ENV_TARGET, serving.ENV_GC_FREEZE):
            serving.os.environ.pop(name, None)


@pytest.mark.parametrize("flag, frozen", [((), True), (("--no-gc-freeze",), False)])
async def test_pondctl_serve_says_it_freezes(tmp_path: Path, flag: tuple[str, ...],
                                             frozen: bool) -> None:
    (tmp_path / "app.py").write_text(APP)
    log = tmp_path / "serve.log"
    server = ServerProcess([sys.executable, "-m", "pondsocket_tools.cli", "serve", "app:pond",
                            "--server", "websockets", "--port", "{port}", *flag],
                           cwd=tmp_path, log=log, what="pondctl serve --server websockets")
    server.start()
    server.stop()
    assert ("collections are frozen" in log.read_text()) is frozen


def test_the_option_is_documented() -> None:
    for command in ("serve", "demo"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert "--no-gc-freeze" in result.output, result.output
