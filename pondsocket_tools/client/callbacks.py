"""Running user callbacks: plain functions or coroutines, never breaking the client."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger("pondsocket_tools.client")

_tasks: set[asyncio.Task[Any]] = set()


def invoke(callback: Callable[..., Any], *args: Any) -> None:
    """Call ``callback(*args)``; a coroutine result runs as a task. Errors are logged."""
    try:
        result = callback(*args)
    except Exception:
        log.exception("client callback %r failed", callback)
        return
    if inspect.isawaitable(result):
        task = asyncio.ensure_future(result)
        _tasks.add(task)
        task.add_done_callback(_done)


def _done(task: asyncio.Task[Any]) -> None:
    _tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("client callback failed", exc_info=task.exception())


class Callbacks:
    """A list of callbacks; :meth:`add` returns a function that removes the callback."""

    def __init__(self) -> None:
        self._items: list[Callable[..., Any]] = []

    def add(self, callback: Callable[..., Any]) -> Callable[[], None]:
        self._items.append(callback)

        def remove() -> None:
            if callback in self._items:
                self._items.remove(callback)

        return remove

    def __call__(self, *args: Any) -> None:
        for callback in list(self._items):
            invoke(callback, *args)

    def __bool__(self) -> bool:
        return bool(self._items)
