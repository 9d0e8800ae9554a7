"""Ordered async middleware chains: ``async def mw(ctx, next)`` calls ``await next()`` to go on."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

Ctx = TypeVar("Ctx")
Request = TypeVar("Request")
Response = TypeVar("Response")

NextFn = Callable[[], Awaitable[None]]
MiddlewareFn = Callable[[Any, NextFn], Awaitable[None]]


async def run_chain(middlewares: Sequence[MiddlewareFn], ctx: Any,
                    final: Callable[[Any], Awaitable[None]]) -> None:
    """Run ``middlewares`` in order around ``final(ctx)``; a middleware may stop the chain."""
    if not middlewares:
        await final(ctx)
        return

    async def step(index: int) -> None:
        if index == len(middlewares):
            await final(ctx)
        else:
            await middlewares[index](ctx, lambda: step(index + 1))

    await step(0)


class Middleware(Generic[Request, Response]):
    """A reusable chain of ``handler(request, response, next)`` functions.

    Handlers may be sync or async. :meth:`handle` runs them in order and calls ``final`` when
    the last one calls ``next``.
    """

    def __init__(self) -> None:
        self._handlers: list[Callable[..., Any]] = []

    async def use(self, *handlers: Callable[..., Any]) -> None:
        self.use_sync(*handlers)

    def use_sync(self, *handlers: Callable[..., Any]) -> None:
        self._handlers.extend(handlers)

    async def compose(self, *others: Middleware[Request, Response]
                      ) -> Middleware[Request, Response]:
        combined: Middleware[Request, Response] = Middleware()
        combined.use_sync(*self._handlers)
        for other in others:
            combined.use_sync(*other._handlers)
        return combined

    async def handle(self, request: Request, response: Response,
                     final: Callable[[Request, Response], Any]) -> None:
        async def step(index: int) -> None:
            if index == len(self._handlers):
                result = final(request, response)
            else:
                result = self._handlers[index](request, response, lambda: step(index + 1))
            if inspect.isawaitable(result):
                await result

        await step(0)

    def __len__(self) -> int:
        return len(self._handlers)


__all__ = ["Ctx", "Middleware", "MiddlewareFn", "NextFn", "Request", "Response", "run_chain"]
