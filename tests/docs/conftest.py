"""Servers the documentation's snippets talk to, and the upstream clients some of them use.

Each is started once per test session, on a free port, and only when a selected test asks.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.install_clients import Clients, InstallError, ensure_clients
from tests.servers import ServerProcess

from .snippets import find_block

PONDCTL = str(Path(sys.executable).with_name("pondctl"))


@pytest.fixture(scope="session")
def docs_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs")


@pytest.fixture(scope="session")
def quickstart_app() -> str:
    """The quick start's ``app.py``: the app the other pages' examples import and serve."""
    return find_block("docs/quickstart.md", lambda block: block.filename == "app.py").code


@pytest.fixture(scope="session")
def demo_server(docs_tmp: Path) -> Iterator[ServerProcess]:
    """``pondctl demo`` on a free port: what the pages mean by ``127.0.0.1:8765``."""
    server = ServerProcess([PONDCTL, "demo", "--port", "{port}"], log=docs_tmp / "demo.log",
                           what="pondctl demo")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_server(docs_tmp: Path, quickstart_app: str) -> Iterator[ServerProcess]:
    """The quick start's app served as the quick start says (``pondctl serve app:pond``), on a
    free port: what the pages mean by ``127.0.0.1:8000``."""
    app_dir = docs_tmp / "quickstart-app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(quickstart_app)
    server = ServerProcess([PONDCTL, "serve", "app:pond", "--port", "{port}"], cwd=app_dir,
                           log=docs_tmp / "app.log", what="pondctl serve app:pond")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def upstream_clients() -> Clients:
    """The upstream JS and Python clients, installed as for the compatibility tests."""
    try:
        return ensure_clients()
    except InstallError as exc:
        pytest.fail(f"could not install the upstream clients (npm / PyPI needed): {exc}",
                    pytrace=False)


@pytest.fixture(scope="session")
def npm() -> str:
    path = shutil.which("npm")
    if path is None:
        pytest.fail("npm is not installed: the quick start's JS block cannot be checked",
                    pytrace=False)
    return path
