"""The code blocks of README.md and docs/*.md, read with the conventions of docs/index.md.

A ```` ```python ```` block runs as written unless its first line says otherwise:

* ``# fragment`` (``# fragment: what it needs``): part of a larger program, only compiled;
* ``# serves``: runs until stopped; the port ``8000`` in it is replaced by a free one;
* ``# <name>.py``: a file the page tells you to save, written under that name next to the
  page's other blocks (which may import it) and run; ``# test_<name>.py`` is run with pytest.

A block that contains the demo's address (``127.0.0.1:8765``) runs against a demo server, and
one that contains ``127.0.0.1:8000`` against the quick start's ``app.py``; the tests serve
them on free ports and put those ports in the block.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_ADDRESS = "127.0.0.1:8765"
APP_ADDRESS = "127.0.0.1:8000"
SERVES_PORT = "8000"
#: The PyPI project that shares this project's name: upstream pondsocket, not this code.
COLLIDING_NAME = "pondsocket"

_FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
_FRAGMENT = re.compile(r"#\s*fragment\b")
_SERVES = re.compile(r"#\s*serves\b")
_FILENAME = re.compile(r"#\s*([\w.-]+\.py)\s*$")
_PIP_INSTALL = re.compile(r"pip3? install\s+([^`\n]*)")
_REQUIREMENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHELL_END = {"&&", "||", ";", "|", "&", ")"}
_OPTIONS_WITH_VALUE = {"-r", "--requirement", "-c", "--constraint", "-i", "--index-url",
                       "--extra-index-url", "-f", "--find-links", "-t", "--target"}


def doc_pages() -> list[Path]:
    """README.md and every page of docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced code block of a page."""

    page: str  # relative to the repository: "docs/quickstart.md"
    line: int  # line number of the opening fence
    lang: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.split("\n", 1)[0].strip()

    @property
    def is_fragment(self) -> bool:
        return bool(_FRAGMENT.match(self.first_line))

    @property
    def serves(self) -> bool:
        return bool(_SERVES.match(self.first_line))

    @property
    def filename(self) -> str | None:
        """The file name the block is saved under (``# app.py``), if it names one."""
        match = _FILENAME.match(self.first_line)
        return match.group(1) if match else None

    @property
    def is_pytest_file(self) -> bool:
        name = self.filename or ""
        return name.startswith("test_")

    @property
    def uses_demo(self) -> bool:
        return DEMO_ADDRESS in self.code

    @property
    def uses_app(self) -> bool:
        return APP_ADDRESS in self.code

    @property
    def uses_upstream_client(self) -> bool:
        """Whether it imports the upstream Python client (``pondsocket-client`` on PyPI)."""
        return bool(re.search(r"^\s*(from|import)\s+pondsocket_client\b", self.code, re.M))


def blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    relative = page.relative_to(ROOT).as_posix()
    return [Block(relative, text.count("\n", 0, match.start()) + 1, match.group(1).lower(),
                  match.group(2))
            for match in _FENCE.finditer(text)]


def python_blocks() -> list[Block]:
    return [block for page in doc_pages() for block in blocks(page) if block.lang == "python"]


def find_blocks(page: str, predicate: Callable[[Block], bool]) -> list[Block]:
    """The blocks of ``page`` (relative to the repository) for which ``predicate`` holds."""
    return [block for block in blocks(ROOT / page) if predicate(block)]


def find_block(page: str, predicate: Callable[[Block], bool]) -> Block:
    """The one block of ``page`` for which ``predicate`` holds."""
    found = find_blocks(page, predicate)
    assert len(found) == 1, f"{page}: expected one matching block, found {len(found)}"
    return found[0]


@dataclass(frozen=True, slots=True)
class PipInstall:
    """One ``pip install`` command written in a page (in a block or in the text)."""

    page: str
    line: int
    command: str
    targets: tuple[str, ...]  # what it installs: requirements and paths, options left out

    def pypi_names(self) -> list[str]:
        """The project names it fetches from an index (paths like ``.`` or ``".[x]"`` are
        local, so they are not here), normalised as PyPI does."""
        names = []
        for target in self.targets:
            if target.startswith((".", "/", "~")) or "/" in target:
                continue
            match = _REQUIREMENT_NAME.match(target)
            if match:
                names.append(re.sub(r"[-_.]+", "-", match.group(0)).lower())
        return names


def pip_installs(page: Path) -> list[PipInstall]:
    """Every ``pip install`` of ``page``: in shell blocks and in inline code alike."""
    text = page.read_text(encoding="utf-8")
    relative = page.relative_to(ROOT).as_posix()
    found = []
    for match in _PIP_INSTALL.finditer(text):
        rest = match.group(1).split(" #", 1)[0]
        try:
            words = shlex.split(rest)
        except ValueError:  # an unbalanced quote: take the words as written
            words = rest.split()
        targets: list[str] = []
        skip_value = False
        for word in words:
            if word in _SHELL_END:
                break
            if skip_value:
                skip_value = False
                continue
            if word.startswith("-"):
                skip_value = word in _OPTIONS_WITH_VALUE
                continue
            targets.append(word)
        found.append(PipInstall(relative, text.count("\n", 0, match.start()) + 1,
                                match.group(0).strip(), tuple(targets)))
    return found
