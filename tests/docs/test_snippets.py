"""Every ```python block of README.md and docs/*.md runs as written, or says it is a fragment.

The conventions are those of docs/index.md ("Code blocks in these docs"), read by
tests/docs/snippets.py. Runnable blocks run for real: each in its own process with the
project's Python, from a temporary directory per page that holds the page's named files
(``# app.py``; the quick start's ``app.py`` by default), against real servers where they
connect to one. They run a few at a time, so the module stays well under a minute.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import port_open, stop_process, wait_for_port
from tests.support import free_port

from .snippets import (
    APP_ADDRESS,
    COLLIDING_NAME,
    DEMO_ADDRESS,
    SERVES_PORT,
    Block,
    doc_pages,
    pip_installs,
    python_blocks,
)

PYTHON_BLOCKS = python_blocks()
RUNNABLE = [block for block in PYTHON_BLOCKS if not block.is_fragment]
FRAGMENTS = [block for block in PYTHON_BLOCKS if block.is_fragment]
RUN_TIMEOUT = 45.0  # one block, on 2 shared cores (the slowest documented one waits 10 s)
PARALLEL = 4
OUTPUT_TAIL = 40


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    report: str


def _ids(blocks: list[Block]) -> list[str]:
    return [block.id for block in blocks]


# -- fragments ---------------------------------------------------------------------------------


def _importable(module: str, name: str) -> bool:
    """Whether ``from module import name`` works (a name, or a submodule)."""
    if hasattr(importlib.import_module(module), name):
        return True
    try:
        importlib.import_module(f"{module}.{name}")
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("block", FRAGMENTS, ids=_ids(FRAGMENTS))
def test_fragment_compiles_and_its_imports_exist(block: Block) -> None:
    """A fragment is not run, but it is valid Python (top-level ``await`` allowed) and what it
    imports from this project exists."""
    try:
        tree = compile(block.code, block.id, "exec",
                       flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:
        pytest.fail(f"{block.id}: the fragment does not compile: {exc}", pytrace=False)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pondsocket"):
            missing = [alias.name for alias in node.names
                       if not _importable(node.module or "", alias.name)]
            assert not missing, f"{block.id}: {node.module} has no {', '.join(missing)}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pondsocket"):
                    importlib.import_module(alias.name)


# -- runnable blocks ---------------------------------------------------------------------------


def _selected(request: pytest.FixtureRequest) -> list[Block]:
    """The runnable blocks whose test is part of this session (so ``-k`` runs fewer)."""
    wanted = {item.callspec.params["block"].id for item in request.session.items
              if item.originalname == "test_block_runs" and hasattr(item, "callspec")}
    return [block for block in RUNNABLE if block.id in wanted]


def _tail(text: str) -> str:
    lines = text.strip().splitlines()
    return "\n".join(lines[-OUTPUT_TAIL:])


def _child_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run_script(cmd: list[str], cwd: Path, what: str) -> Outcome:
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=_child_env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) \
            else (exc.stdout or "")
        return Outcome(False, f"{what}: still running after {RUN_TIMEOUT} s\n{_tail(out)}")
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        return Outcome(False, f"{what}: exited {proc.returncode}\n{_tail(output)}")
    if "Traceback (most recent call last)" in output:
        return Outcome(False, f"{what}: exited 0 but printed a traceback\n{_tail(output)}")
    return Outcome(True, "")


def _run_serving(cmd: list[str], cwd: Path, port: int, what: str) -> Outcome:
    """A ``# serves`` block: it must accept a connection on ``port``; then it is stopped."""
    log = cwd / f"serves-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, env=_child_env(), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for_port(port, proc, timeout=RUN_TIMEOUT, what=what, log=log)
        ok = port_open(port) and proc.poll() is None
        return Outcome(ok, "" if ok else f"{what}: stopped serving\n{_tail(log.read_text())}")
    except RuntimeError as exc:
        return Outcome(False, str(exc))
    finally:
        stop_process(proc)


class SnippetRunner:
    """Writes each page's blocks into a directory of their own and runs them."""

    def __init__(self, root: Path, quickstart_app: str, python: str) -> None:
        self.root = root
        self.quickstart_app = quickstart_app
        self.python = python
        self.upstream_python: str | None = None
        self.demo_port: int | None = None
        self.app_port: int | None = None
        self.upstream_error = ""

    def page_dir(self, page: str) -> Path:
        return self.root / re.sub(r"\W", "-", page)

    def prepare(self, pages: set[str]) -> None:
        """Each page's directory: the quick start's app.py, then the page's named files.
        Written before any block runs (blocks run concurrently and import these)."""
        for page in pages:
            directory = self.page_dir(page)
            directory.mkdir(parents=True)
            (directory / "app.py").write_text(self.quickstart_app)
            for block in PYTHON_BLOCKS:
                if block.page == page and block.filename and not block.is_fragment:
                    (directory / block.filename).write_text(block.code)

    def source(self, block: Block, serves_port: int | None) -> str:
        code = block.code
        if self.demo_port is not None:
            code = code.replace(DEMO_ADDRESS, f"127.0.0.1:{self.demo_port}")
        if self.app_port is not None:
            code = code.replace(APP_ADDRESS, f"127.0.0.1:{self.app_port}")
        if serves_port is not None:
            code = re.sub(rf"\b{SERVES_PORT}\b", str(serves_port), code)
        return code

    def run(self, block: Block) -> Outcome:
        directory = self.page_dir(block.page)
        python = self.python
        if block.uses_upstream_client:
            if self.upstream_python is None:
                return Outcome(False, f"{block.id}: the upstream Python client is not "
                                      f"installed: {self.upstream_error}")
            python = self.upstream_python
        serves_port = free_port() if block.serves else None
        code = self.source(block, serves_port)
        if block.filename and code == block.code:
            script = block.filename  # written by page_dir, under the name the page gives it
        else:
            script = f"block_{block.line}.py"
            (directory / script).write_text(code)
        if block.is_pytest_file:
            cmd = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", script]
        else:
            cmd = [python, script]
        if serves_port is not None:
            return _run_serving(cmd, directory, serves_port, block.id)
        return _run_script(cmd, directory, block.id)


@pytest.fixture(scope="module")
def snippet_outcomes(request: pytest.FixtureRequest, docs_tmp: Path,
                     quickstart_app: str) -> dict[str, Outcome]:
    """Runs every selected runnable block, a few at a time, and records how each went."""
    selected = _selected(request)
    runner = SnippetRunner(docs_tmp / "pages", quickstart_app, sys.executable)
    if any(block.uses_demo for block in selected):
        runner.demo_port = request.getfixturevalue("demo_server").port
    if any(block.uses_app for block in selected):
        runner.app_port = request.getfixturevalue("app_server").port
    if any(block.uses_upstream_client for block in selected):
        try:
            runner.upstream_python = request.getfixturevalue("upstream_clients").py_python
        except pytest.fail.Exception as exc:
            runner.upstream_error = str(exc)
    runner.prepare({block.page for block in selected})
    with ThreadPoolExecutor(PARALLEL) as pool:
        outcomes = dict(zip(_ids(selected), pool.map(runner.run, selected), strict=True))
    return outcomes


@pytest.mark.parametrize("block", RUNNABLE, ids=_ids(RUNNABLE))
def test_block_runs(block: Block, snippet_outcomes: dict[str, Outcome]) -> None:
    outcome = snippet_outcomes[block.id]
    assert outcome.ok, outcome.report


# -- conventions -------------------------------------------------------------------------------


def test_the_conventions_find_work() -> None:
    """The docs have runnable blocks, fragments, a served block and named files: a parser
    that stopped recognising a marker would make this module test nothing."""
    assert len(RUNNABLE) >= 20 and len(FRAGMENTS) >= 10
    assert any(block.serves for block in RUNNABLE)
    assert any(block.uses_demo for block in RUNNABLE)
    assert any(block.is_pytest_file for block in RUNNABLE)


# -- install lines -----------------------------------------------------------------------------


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: page.name)
def test_pip_install_lines_install_this_project(page: Path) -> None:
    """``pip install pondsocket`` fetches the unrelated upstream package from PyPI: every
    install of this project is from a checkout (``pip install -e ".[tools]"``)."""
    wrong = [f"{install.page}:{install.line}: {install.command}"
             for install in pip_installs(page) if COLLIDING_NAME in install.pypi_names()]
    assert not wrong, ("these install the PyPI package named pondsocket, not this project:\n"
                       + "\n".join(wrong))
