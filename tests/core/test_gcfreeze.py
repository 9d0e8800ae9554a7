"""GCFreezer: survivors of the older generations' collections are frozen, so no later
collection traverses them; the periodic unfrozen collection frees cycles among frozen
objects; nested starts share one freezer and the last stop unfreezes
(docs/big-rooms.md#garbage-collector-pauses)."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from pondsocket.gcfreeze import GCFreezer


class Node:
    """A garbage-collected object that can sit in a cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> tuple[Node, weakref.ref[Node]]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a, weakref.ref(a)


@pytest.fixture
def freezer():
    made: list[GCFreezer] = []

    def make(**kwargs) -> GCFreezer:
        made.append(GCFreezer(**kwargs))
        return made[-1]
    yield make
    while GCFreezer._holders:
        made[0].stop()
    assert gc.get_freeze_count() == 0


async def test_start_freezes_what_exists_and_stop_unfreezes(freezer) -> None:
    f = freezer()
    f.start()
    assert f.active and gc.get_freeze_count() > 0
    f.stop()
    assert not f.active and gc.get_freeze_count() == 0


@pytest.mark.parametrize("generation", [1, 2])
async def test_survivors_of_an_old_generation_collection_are_frozen(freezer,
                                                                     generation: int) -> None:
    f = freezer()
    f.start()
    frozen = gc.get_freeze_count()
    survivors = [Node() for _ in range(1000)]
    gc.collect(generation)  # as the collector runs them by itself
    await asyncio.sleep(0)  # one loop turn: the freeze is scheduled on the loop
    assert f.freezes >= 1
    assert gc.get_freeze_count() >= frozen + len(survivors)
    # out of every generation: the next full collection does not traverse them
    old = {id(o) for o in gc.get_objects(generation=2)}
    assert not any(id(n) in old for n in survivors)


async def test_frozen_cycles_wait_for_the_unfrozen_collection(freezer) -> None:
    f = freezer(full_collection_interval=3600)
    head, alive = cycle()
    f.start()  # the cycle is still referenced: it is frozen
    del head  # now garbage, but frozen: a plain full collection does not see it
    gc.collect()
    assert alive() is not None
    f.collect_now()
    assert alive() is None
    assert f.full_collections == 1 and gc.get_freeze_count() > 0


async def test_the_unfrozen_collection_runs_every_interval(freezer) -> None:
    ran = asyncio.Event()

    class Probe(GCFreezer):
        def collect_now(self) -> None:
            super().collect_now()
            ran.set()

    f = Probe(full_collection_interval=0.01)
    f.start()
    try:
        await asyncio.wait_for(ran.wait(), 5)
        assert f.full_collections >= 1
    finally:
        f.stop()


async def test_starts_nest_and_the_last_stop_unfreezes(freezer) -> None:
    first, second = freezer(), freezer()
    first.start()
    second.start()
    assert first.active and not second.active  # one freezer per process
    second.stop()
    assert first.active and gc.get_freeze_count() > 0
    first.stop()
    assert gc.get_freeze_count() == 0 and gc.callbacks.count(first._after_collection) == 0


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="full_collection_interval"):
        GCFreezer(full_collection_interval=0)
