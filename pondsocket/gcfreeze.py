"""Short garbage-collector pauses for a server holding thousands of connections.

CPython's full (generation 2) collection traverses every object the collector tracks. A
server with thousands of connections holds hundreds of thousands of them (each connection's
protocol, parser, transport, queues and member records), so each full collection stops the
event loop for 50-300 ms on a small machine: every channel waits, not just the busy one
(docs/big-rooms.md#garbage-collector-pauses).

:class:`GCFreezer` moves what survives a collection of the two older generations into the
collector's permanent generation (:func:`gc.freeze`), so the oldest generation stays nearly
empty and no collection walks the whole server: pauses follow the recent allocations, not the
size of the server. Objects that die after being frozen are still freed by reference counting
as usual; only garbage *cycles* among frozen objects wait, until the unfrozen full collection
run every ``full_collection_interval`` seconds (one longer pause at a known rate).

``pondctl serve``, ``pondctl demo`` and :func:`pondsocket.wsserver.serve` start one by
default; an application serving with its own uvicorn starts it in its lifespan::

    freezer = GCFreezer()
    freezer.start()    # at start-up, in the event loop
    ...
    freezer.stop()     # at shutdown

The collector is process-wide: starts and stops nest, and the first start's interval holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from typing import Any

log = logging.getLogger("pondsocket.gc")

#: Seconds between the full collections that also scan frozen objects.
DEFAULT_FULL_COLLECTION_INTERVAL = 600.0
# Survivors are frozen after collections of this generation and older: freezing after the
# middle one too keeps the oldest empty, so no full collection walks a big heap (measured in
# a storm of 5,000 joins: full collections of 48-94 ms when freezing after them only, none
# when freezing from generation 1, whose collections stayed under 27 ms).
FREEZE_FROM_GENERATION = 1


class GCFreezer:
    """Freezes the survivors of the older generations' collections (see the module
    documentation)."""

    # The one active in this process (the collector is process-wide), and how many hold it.
    _active: GCFreezer | None = None
    _holders = 0

    def __init__(self, full_collection_interval: float = DEFAULT_FULL_COLLECTION_INTERVAL
                 ) -> None:
        if full_collection_interval <= 0:
            raise ValueError("full_collection_interval must be positive")
        self.full_collection_interval = full_collection_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: Collections whose survivors were frozen, and unfrozen full collections run.
        self.freezes = 0
        self.full_collections = 0
        #: Seconds the last unfrozen full collection took.
        self.last_full_collection_seconds = 0.0

    @property
    def active(self) -> bool:
        """True while this freezer is the one in effect."""
        return GCFreezer._active is self

    def start(self) -> None:
        """Collect and freeze what exists now, then the survivors of each collection of the
        older generations. Call it from the event loop (the periodic collection runs
        there)."""
        cls = GCFreezer
        cls._holders += 1
        if cls._active is not None:
            return
        cls._active = self
        self._loop = asyncio.get_running_loop()
        self._collect_and_freeze()
        gc.callbacks.append(self._after_collection)
        self._timer = self._loop.call_later(self.full_collection_interval, self._periodic)
        log.info("garbage collector: survivors of old-generation collections are frozen "
                 "(an unfrozen full collection every %g s)", self.full_collection_interval)

    def stop(self) -> None:
        """Undo :meth:`start` (the last holder's stop unfreezes everything)."""
        cls = GCFreezer
        if cls._holders == 0:
            return
        cls._holders -= 1
        if cls._holders:
            return
        active, cls._active = cls._active, None
        if active is not None:
            active._release()

    def _release(self) -> None:
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        gc.unfreeze()

    def _after_collection(self, phase: str, info: dict[str, Any]) -> None:
        # Called by the collector itself, in whichever thread collected: freeze from the
        # loop, once the collection is over.
        if (phase == "stop" and info.get("generation", 0) >= FREEZE_FROM_GENERATION
                and self._loop is not None):
            with contextlib.suppress(RuntimeError):  # a closed loop: the freezer is going
                self._loop.call_soon_threadsafe(self._freeze)

    def _freeze(self) -> None:
        if self.active:
            gc.freeze()
            self.freezes += 1

    def collect_now(self) -> None:
        """Run the unfrozen full collection now (frees garbage cycles among frozen objects;
        a pause as long as a full collection without the freezer), then freeze again."""
        if not self.active:
            return
        started = time.perf_counter()
        self._collect_and_freeze()
        self.last_full_collection_seconds = time.perf_counter() - started
        self.full_collections += 1
        log.debug("full collection with frozen objects took %.1f ms",
                  self.last_full_collection_seconds * 1e3)

    def _periodic(self) -> None:
        self._timer = None
        if not self.active or self._loop is None:
            return
        self.collect_now()
        self._timer = self._loop.call_later(self.full_collection_interval, self._periodic)

    @staticmethod
    def _collect_and_freeze() -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()


__all__ = ["DEFAULT_FULL_COLLECTION_INTERVAL", "GCFreezer"]
