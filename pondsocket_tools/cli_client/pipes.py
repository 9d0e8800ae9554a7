"""A closed output pipe ends a command quietly, as Unix tools do.

``pondctl listen --json | head -3``: once ``head`` has gone, the next write fails with
``BrokenPipeError``. That is the reader's way of saying "enough", not an error: the command
stops and exits with status 0, printing nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console


def silence_stdout() -> None:
    """Point standard output at ``/dev/null``.

    Python flushes ``sys.stdout`` once more on exit; with the pipe gone that flush would fail
    too and print "Exception ignored ... BrokenPipeError".
    """
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


class PipeAwareConsole(Console):
    """A rich console that lets a closed pipe surface as ``BrokenPipeError``.

    (rich's own reaction is ``SystemExit(1)``, which would turn "the reader has had
    enough" into a failure.)
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to print anywhere
        raise BrokenPipeError


class OutputWatch:
    """Notices a closed pipe in callbacks, which the client SDK runs shielded (it logs their
    errors): a command awaits :meth:`wait_closed` to stop when that happens."""

    def __init__(self) -> None:
        self._closed = asyncio.Event()

    def guard(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        """``callback`` with a broken pipe turned into :meth:`wait_closed` returning."""

        def guarded(*args: Any) -> Any:
            try:
                return callback(*args)
            except BrokenPipeError:
                self._closed.set()
                return None

        return guarded

    async def wait_closed(self) -> None:
        """Return once a guarded callback found the output closed."""
        await self._closed.wait()


__all__ = ["OutputWatch", "PipeAwareConsole", "silence_stdout"]
