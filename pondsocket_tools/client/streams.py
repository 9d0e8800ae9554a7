"""Fan-out of channel events to async iterators, with a bounded backlog.

An item goes to every open iterator that wants it. An item that no open iterator wants is
kept (up to a bound) for the next iterator that does: so ``async for msg in
chat.messages()`` started right after ``join()`` misses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger("pondsocket_tools.client")

T = TypeVar("T")
_END = object()


class Subscription(Generic[T]):
    """An async iterator over the items of an :class:`EventStream` that pass ``accept``.

    Ends when the stream closes: cleanly, or by raising the stream's error once every item
    received before has been consumed. Use as ``async for`` or ``async with``; dropping the
    iterator (e.g. ``break``) unsubscribes it.
    """

    def __init__(self, stream: EventStream[Any], accept: Callable[[Any], bool],
                 limit: int) -> None:
        self._stream = stream
        self._accept = accept
        self._limit = limit
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._ended = False
        self.dropped = 0

    def _wants(self, item: Any) -> bool:
        return not self._ended and self._accept(item)

    def _push(self, item: Any) -> None:
        if item is not _END and len(self._items) >= self._limit:
            self._items.popleft()
            self.dropped += 1
            self._stream._count_drop()
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while not self._items:
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if item is _END:
            self._ended = True
            self._stream._unsubscribe(self)
            error = self._stream.error
            if error is not None:
                raise error
            raise StopAsyncIteration
        return item

    async def get(self, timeout: float | None = None) -> T:
        """The next item (``TimeoutError`` after ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            return await self.__anext__()

    def pending(self) -> int:
        """Items received but not consumed yet."""
        return sum(1 for item in self._items if item is not _END)

    def aclose_nowait(self) -> None:
        """Stop receiving; items not consumed yet go back to the stream's backlog."""
        if self._ended:
            return
        self._ended = True
        self._stream._unsubscribe(self)
        leftovers = [item for item in self._items if item is not _END]
        self._items.clear()
        self._stream._return(leftovers)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def aclose(self) -> None:
        self.aclose_nowait()

    async def __aenter__(self) -> Subscription[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.aclose_nowait()


class EventStream(Generic[T]):
    """The items of one channel, fanned out to :class:`Subscription` iterators."""

    def __init__(self, name: str, limit: int) -> None:
        self._name = name
        self._limit = limit
        self._subscribers: weakref.WeakSet[Subscription[Any]] = weakref.WeakSet()
        self._backlog: deque[Any] = deque()
        self.closed = False
        self.error: BaseException | None = None
        self.dropped = 0
        self._warned = False

    def subscribe(self, accept: Callable[[Any], bool] | None = None) -> Subscription[T]:
        """A new iterator; it starts with the backlogged items it accepts."""
        sub: Subscription[T] = Subscription(self, accept or (lambda _item: True), self._limit)
        if self._backlog:
            kept: deque[Any] = deque()
            for item in self._backlog:
                if sub._accept(item):
                    sub._push(item)
                else:
                    kept.append(item)
            self._backlog = kept
        if self.closed:
            sub._push(_END)
        else:
            self._subscribers.add(sub)
        return sub

    def publish(self, item: T) -> None:
        if self.closed:
            return
        delivered = False
        for sub in list(self._subscribers):
            if sub._wants(item):
                sub._push(item)
                delivered = True
        if not delivered:
            # Nobody listens for this kind of item (yet): keep the most recent ones.
            if len(self._backlog) >= self._limit:
                self._backlog.popleft()
            self._backlog.append(item)

    def close(self, error: BaseException | None = None) -> None:
        """End every iterator (raising ``error`` in them after their last item)."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        for sub in list(self._subscribers):
            sub._push(_END)
        self._subscribers = weakref.WeakSet()

    def _unsubscribe(self, sub: Subscription[Any]) -> None:
        self._subscribers.discard(sub)

    def _return(self, items: list[Any]) -> None:
        if items and not self.closed:
            self._backlog.extendleft(reversed(items))
            while len(self._backlog) > self._limit:
                self._backlog.popleft()

    def _count_drop(self) -> None:
        self.dropped += 1
        if not self._warned:
            self._warned = True
            log.warning("%s: a consumer fell more than %d items behind; the oldest items "
                        "are being dropped", self._name, self._limit)

    @property
    def backlog(self) -> int:
        return len(self._backlog)
