"""The scenarios: each one drives a fresh server process and returns its figures.

A scenario gets a :class:`Context` (the server, the options, whether clients offer
permessage-deflate) and returns ``{row label: {metric: value}}``; fan-out gives one row per
payload size, the others one row each.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection

from . import driver, storms
from .bystanders import Bystanders
from .processes import ServerProcess

Figures = dict[str, dict[str, float]]


@dataclass
class Context:
    """What a scenario runs against, and what the server negotiated with its clients."""

    server: ServerProcess
    args: argparse.Namespace
    offer_deflate: bool
    negotiated: Counter[str] = field(default_factory=Counter)

    async def open(self, channels: list[str], **kwargs: Any) -> list[ClientConnection]:
        """Joined connections (see :func:`driver.open_members`), recording what each one
        negotiated so the table reports the compression actually in use."""
        conns = await driver.open_members(
            self.server.urls, channels, compression="deflate" if self.offer_deflate else None,
            **kwargs)
        self.negotiated.update(driver.negotiated(ws) for ws in conns)
        return conns


@dataclass(frozen=True)
class Scenario:
    """A named measurement; ``fanout`` ones run under every fan-out setting and against the
    cluster too; ``presence`` ones only on servers with this project's presence
    (``ServerSpec.presence``). ``labels`` are the rows it yields, known before it runs (for
    failures)."""

    name: str
    labels: tuple[str, ...]
    run: Callable[[Context], Awaitable[Figures]]
    fanout: bool = False
    presence: bool = False


@dataclass(frozen=True)
class Comparison:
    """A ratio the report prints between two rows of the same server and setting:
    ``over``'s median over ``under``'s, for each of ``metrics``."""

    over: str
    under: str
    metrics: tuple[str, ...]


def size_label(size: int) -> str:
    """100 -> "100 B", 2048 -> "2 KB"."""
    return f"{size // 1024} KB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


def messages_for(size: int, messages: int) -> int:
    """Messages per fan-out row: ``messages`` up to 1 KB, ``messages`` x 1 KB / size above
    (at least 10), because compressing a 16 KB frame for each recipient costs about 0.3 ms
    of CPU per recipient: 100 of them to 1,000 subscribers would take half a minute."""
    return max(10, min(messages, messages * 1024 // max(size, 1)))


async def fanout(ctx: Context, n: int, sizes: list[int], messages: int) -> Figures:
    """N subscribers of one channel; one of them publishes; one row per payload size, all
    on the same connections."""
    conns = await ctx.open(["/bench/1"] * n)
    out: Figures = {}
    try:
        for size in sizes:
            count = messages_for(size, messages)
            cpu0 = ctx.server.cpu_seconds()
            elapsed = await driver.fan_out(conns, [(conns[0], "/bench/1")], count, size,
                                           n * count)
            cpu = ctx.server.cpu_seconds() - cpu0
            deliveries = n * count
            out[f"fan-out N={n}, {size_label(size)}"] = {
                "deliveries/s": deliveries / elapsed, "cpu µs/delivery": cpu / deliveries * 1e6}
    finally:
        await driver.close_all(conns)
    return out


async def many_channels(ctx: Context) -> Figures:
    """1,000 channels of 5; one publisher per channel."""
    args = ctx.args
    rooms, members, messages = args.rooms, 5, args.messages // 5
    names = [f"/bench/{i // members}" for i in range(rooms * members)]
    conns = await ctx.open(names)
    try:
        publishers = [(conns[i], names[i]) for i in range(0, len(conns), members)]
        cpu0 = ctx.server.cpu_seconds()
        elapsed = await driver.fan_out(conns, publishers, messages, args.size,
                                       len(conns) * messages)
        cpu = ctx.server.cpu_seconds() - cpu0
    finally:
        await driver.close_all(conns)
    deliveries = len(conns) * messages
    return {f"{rooms} channels x 5": {"deliveries/s": deliveries / elapsed,
                                      "cpu µs/delivery": cpu / deliveries * 1e6}}


def big_room_label(kind: str, n: int) -> str:
    """The row of a storm of ``n`` members of ``kind``: "big rooms diff 1000"."""
    return f"big rooms {kind} {n}"


async def big_room(ctx: Context, kind: str, n: int) -> Figures:
    """A presence storm of ``n`` members of ``kind`` (:mod:`.storms`) in one channel, while
    the bystander pair chats in another from its own process; server CPU per join."""
    bystanders = Bystanders.start(ctx.server.url, "/bench/bystanders")
    try:
        cpu0 = ctx.server.cpu_seconds()
        started = time.perf_counter()
        if kind == "sdk":
            storm = await storms.sdk_storm(ctx.server.url, "/bench/storm", n)
        else:
            storm = await storms.raw_storm(ctx.open, "/bench/storm", n, diff=kind == "diff")
        elapsed = time.perf_counter() - started
        cpu = ctx.server.cpu_seconds() - cpu0
        figures = {"cpu ms/join": cpu / n * 1e3, **storm.figures, "storm s": elapsed,
                   **bystanders.stop()}
    except BaseException:
        bystanders.kill()
        raise
    await storm.close()
    return {big_room_label(kind, n): figures}


async def idle_memory(ctx: Context) -> Figures:
    """RSS growth per idle joined connection (after 10 warm-up connections)."""
    idle = ctx.args.idle
    warm = await ctx.open(["/bench/idle"] * 10)
    rss0 = ctx.server.rss_bytes()
    conns = await ctx.open(["/bench/idle"] * idle)
    rss = ctx.server.rss_bytes() - rss0
    await driver.close_all(conns + warm)
    return {f"idle {idle} conns": {"KB/idle conn": rss / idle / 1024}}


async def request_reply(ctx: Context) -> Figures:
    """Sequential ping requests on one connection: round-trip percentiles."""
    requests = ctx.args.requests
    conns = await ctx.open(["/bench/rr"])
    times = await driver.request_reply(conns[0], "/bench/rr", requests)
    await driver.close_all(conns)
    return {f"request/reply x{requests}": {"p50 ms": driver.percentile(times, 50) * 1e3,
                                           "p99 ms": driver.percentile(times, 99) * 1e3}}


async def slow_consumers(ctx: Context) -> Figures:
    """A fast subscriber's p99 latency with all reading, then with 10 % stalled readers,
    and the memory the server holds for the stalled ones (it must stay bounded)."""
    args = ctx.args
    n = args.slow_n
    result: dict[str, float] = {}
    for label, slow_share in (("p99 ms (all fast)", 0.0), ("p99 ms (10% slow)", 0.1)):
        slow = int(n * slow_share)
        fast = await ctx.open(["/bench/slow"] * (n - slow))
        stalled = await ctx.open(["/bench/slow"] * slow, max_queue=1)
        rss0 = ctx.server.rss_bytes()
        try:
            latencies = await driver.paced_latency(fast[1], fast[0], "/bench/slow",
                                                   args.slow_messages, args.slow_rate,
                                                   args.slow_size,
                                                   readers=[fast[0], *fast[2:]])
        except BaseException:
            driver.abort_all(fast + stalled)  # the server is stopped next: no handshakes
            raise
        result[label] = driver.percentile(latencies, 99) * 1e3
        if slow:  # memory the server holds for readers that stopped: must stay bounded
            result["server MB held"] = (ctx.server.rss_bytes() - rss0) / 2**20
        driver.abort_all(stalled)
        await driver.close_all(fast)
    result["slowdown x"] = result["p99 ms (10% slow)"] / result["p99 ms (all fast)"]
    return {f"slow consumers N={n}": result}


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    """Every scenario for these options, in the order they run within a round."""
    table = [Scenario(f"fan-out N={n}",
                      tuple(f"fan-out N={n}, {size_label(s)}" for s in args.sizes),
                      lambda ctx, n=n: fanout(ctx, n, args.sizes, args.messages), fanout=True)
             for n in args.fanout]
    for name, run in ((f"{args.rooms} channels x 5", many_channels),
                      (f"idle {args.idle} conns", idle_memory),
                      (f"request/reply x{args.requests}", request_reply),
                      (f"slow consumers N={args.slow_n}", slow_consumers)):
        table.append(Scenario(name, (name,), run))
    for kind, n in args.big_rooms:
        label = big_room_label(kind, n)
        table.append(Scenario(label, (label,), lambda ctx, kind=kind, n=n: big_room(ctx, kind, n),
                              presence=True))
    return table


def comparisons(args: argparse.Namespace) -> list[Comparison]:
    """The big rooms' growth: for each kind of member storming at several sizes, the
    largest storm over the smallest (CPU per join should grow at most linearly with the
    room, presence bytes per join per member not at all)."""
    sizes: dict[str, list[int]] = {}
    for kind, n in args.big_rooms:
        sizes.setdefault(kind, []).append(n)
    return [Comparison(big_room_label(kind, max(ns)), big_room_label(kind, min(ns)),
                       ("cpu ms/join", "presence B/join/member"))
            for kind, ns in sizes.items() if len(set(ns)) > 1]
