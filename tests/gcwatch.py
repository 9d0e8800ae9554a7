"""Watching server-side objects die: freed by reference counting, or left to the collector.

A connection's objects that end up in a reference cycle are only freed by a full garbage
collection, and never once ``gc.freeze()`` moved them out of its reach. The tests take
weak references to the server-side objects of some connections (:func:`watch`, against a
:func:`baseline` taken before they opened), close the connections with the garbage
collector disabled (:func:`gc_disabled`), and await every watched object's death
(:meth:`Watched.all_freed`): an object in a cycle never dies, and the failure names it and
whether a collection would have freed it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import weakref
from collections.abc import Callable, Iterator
from typing import Any

#: Server-side classes from outside the project whose instances a closed connection leaves.
#: (Client-side objects of the same process are of other classes: ``ClientProtocol``,
#: ``ClientConnection``; asyncio's transports and queues serve both sides: not watched.)
THIRD_PARTY = ("websockets.server.ServerProtocol",
               "websockets.asyncio.server.ServerConnection",
               "uvicorn.protocols.http.flow_control.FlowControl",
               "uvicorn.protocols.http.httptools_impl.RequestResponseCycle",
               "uvicorn.protocols.http.h11_impl.RequestResponseCycle")


def class_name(obj: object) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def server_side(obj: object) -> bool:
    """This project's objects (``pondsocket``) and the server's from :data:`THIRD_PARTY`."""
    name = class_name(obj)
    return name.startswith("pondsocket.") or name in THIRD_PARTY


@contextlib.contextmanager
def gc_disabled() -> Iterator[None]:
    """No automatic collection inside (so that only reference counting frees anything)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _live(kind: Callable[[object], bool]) -> list[object]:
    return [obj for obj in gc.get_objects() if kind(obj) and _weakrefable(obj)]


def _weakrefable(obj: object) -> bool:
    try:
        weakref.ref(obj)
    except TypeError:
        return False
    return True


def baseline(kind: Callable[[object], bool] = server_side) -> dict[int, weakref.ref[Any]]:
    """Weak references to the objects of ``kind`` alive now (long-lived: not watched)."""
    return {id(obj): weakref.ref(obj) for obj in _live(kind)}


class Watched:
    """Weak references to objects, and an event set once they have all been freed."""

    def __init__(self, objects: list[object]) -> None:
        self.classes = collections.Counter(class_name(obj) for obj in objects)
        self._alive: dict[weakref.ref[Any], str] = {}
        self._freed = asyncio.Event()
        for obj in objects:
            self._alive[weakref.ref(obj, self._died)] = class_name(obj)
        if not self._alive:
            self._freed.set()

    def _died(self, ref: weakref.ref[Any]) -> None:
        self._alive.pop(ref, None)
        if not self._alive:
            self._freed.set()

    async def all_freed(self, timeout: float) -> None:
        """Wait until every watched object is freed; fail naming the survivors after
        ``timeout`` seconds (and which of them only a full collection would free)."""
        try:
            async with asyncio.timeout(timeout):
                await self._freed.wait()
            return
        except TimeoutError:
            pass
        alive = collections.Counter(self._alive.values())
        gc.collect()
        remaining = collections.Counter(self._alive.values())
        cyclic = alive - remaining
        raise AssertionError(f"not freed by reference counting: {dict(alive)}; of these, in "
                             f"reference cycles (freed by a full collection): {dict(cyclic)}")


def watch(before: dict[int, weakref.ref[Any]],
          kind: Callable[[object], bool] = server_side) -> Watched:
    """Watch the objects of ``kind`` alive now that were not in ``before``."""
    fresh = [obj for obj in _live(kind) if (ref := before.get(id(obj))) is None or ref() is not obj]
    return Watched(fresh)


def freed_by_collection(before: dict[int, weakref.ref[Any]],
                        kind: Callable[[object], bool] = server_side) -> collections.Counter[str]:
    """Run a full collection; the classes of objects of ``kind`` (not in ``before``) it
    freed: objects that were in reference cycles. Counts those in ``gc.garbage`` under
    ``DEBUG_SAVEALL`` and those freed by the finalizers of generators and coroutines in a
    cycle (which never reach ``gc.garbage``)."""
    watched = watch(before, kind)
    alive = dict(watched._alive)
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(0)
    garbage, gc.garbage[:] = list(gc.garbage), []
    freed = collections.Counter(name for ref, name in alive.items() if ref() is None)
    freed.update(class_name(obj) for obj in garbage
                 if kind(obj) and ((ref := before.get(id(obj))) is None or ref() is not obj))
    return freed
