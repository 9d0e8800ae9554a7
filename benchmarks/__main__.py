"""Run the benchmarks: ``python -m benchmarks [--quick] [--no-upstream] [--scenario ...]``.

Every server runs in its own process; this process drives it. Server CPU time and RSS come
from /proc. Each figure is printed with its ratio to the websockets ceiling measured in the
same run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import driver
from .processes import ServerProcess, ServerSpec, specs


@dataclass
class Row:
    scenario: str
    server: str
    metrics: dict[str, float]


Scenario = Callable[[ServerProcess, argparse.Namespace], Awaitable[dict[str, float]]]


async def fanout(server: ServerProcess, n: int, messages: int, size: int) -> dict[str, float]:
    conns = await driver.open_members(server.urls, ["/bench/1"] * n)
    try:
        cpu0 = server.cpu_seconds()
        elapsed = await driver.fan_out(conns, [(conns[0], "/bench/1")], messages, size,
                                       n * messages)
        cpu = server.cpu_seconds() - cpu0
    finally:
        await driver.close_all(conns)
    deliveries = n * messages
    return {"deliveries/s": deliveries / elapsed, "cpu µs/delivery": cpu / deliveries * 1e6}


async def many_channels(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    rooms, members, messages = args.rooms, 5, args.messages // 5
    names = [f"/bench/{i // members}" for i in range(rooms * members)]
    conns = await driver.open_members(server.url, names)
    try:
        publishers = [(conns[i], names[i]) for i in range(0, len(conns), members)]
        cpu0 = server.cpu_seconds()
        elapsed = await driver.fan_out(conns, publishers, messages, args.size,
                                       len(conns) * messages)
        cpu = server.cpu_seconds() - cpu0
    finally:
        await driver.close_all(conns)
    deliveries = len(conns) * messages
    return {"deliveries/s": deliveries / elapsed, "cpu µs/delivery": cpu / deliveries * 1e6}


async def presence_storm(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    if "ceiling" in server.spec.name:
        return {}
    n = args.presence_users
    cpu0 = server.cpu_seconds()
    started = time.perf_counter()
    conns = await driver.open_members(server.url, ["/bench/p"] * n,
                                      params=lambda i: {"track": True, "name": f"u{i}"},
                                      max_queue=None)
    elapsed = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu0
    await driver.close_all(conns)
    return {"joins/s": n / elapsed, "cpu ms/join": cpu / n * 1e3}


async def idle_memory(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    warm = await driver.open_members(server.url, ["/bench/idle"] * 10)
    rss0 = server.rss_bytes()
    conns = await driver.open_members(server.url, ["/bench/idle"] * args.idle)
    rss = server.rss_bytes() - rss0
    await driver.close_all(conns + warm)
    return {"KB/idle conn": rss / args.idle / 1024}


async def request_reply(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    conns = await driver.open_members(server.url, ["/bench/rr"])
    times = await driver.request_reply(conns[0], "/bench/rr", args.requests)
    await driver.close_all(conns)
    return {"p50 ms": driver.percentile(times, 50) * 1e3,
            "p99 ms": driver.percentile(times, 99) * 1e3}


async def slow_consumers(server: ServerProcess, args: argparse.Namespace) -> dict[str, float]:
    n = args.slow_n
    result = {}
    for label, slow_share in (("p99 ms (all fast)", 0.0), ("p99 ms (10% slow)", 0.1)):
        slow = int(n * slow_share)
        fast = await driver.open_members(server.url, ["/bench/slow"] * (n - slow))
        stalled = await driver.open_members(server.url, ["/bench/slow"] * slow, max_queue=1)
        rss0 = server.rss_bytes()
        latencies = await driver.paced_latency(fast[1], fast[0], "/bench/slow",
                                               args.slow_messages, args.slow_rate,
                                               args.slow_size,
                                               readers=[fast[0], *fast[2:]])
        result[label] = driver.percentile(latencies, 99) * 1e3
        if slow:  # memory the server holds for readers that stopped: must stay bounded
            result["server MB held"] = (server.rss_bytes() - rss0) / 2**20
        await driver.close_all(fast + stalled)
    result["slowdown x"] = result["p99 ms (10% slow)"] / result["p99 ms (all fast)"]
    return result


def scenarios(args: argparse.Namespace) -> dict[str, Scenario]:
    table: dict[str, Scenario] = {}
    for n in args.fanout:
        table[f"fan-out N={n}"] = (
            lambda server, a, n=n: fanout(server, n, a.messages, a.size))
    table[f"{args.rooms} channels x 5"] = many_channels
    table[f"presence storm {args.presence_users}"] = presence_storm
    table[f"idle {args.idle} conns"] = idle_memory
    table[f"request/reply x{args.requests}"] = request_reply
    table[f"slow consumers N={args.slow_n}"] = slow_consumers
    return table


async def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    servers: list[ServerSpec] = specs(include_upstream=not args.no_upstream)
    chosen = scenarios(args)
    if args.scenario:
        chosen = {k: v for k, v in chosen.items() if any(s in k for s in args.scenario)}
    for name, scenario in chosen.items():
        for spec in servers:
            if spec.nodes > 1 and not name.startswith("fan-out"):
                continue  # the cluster row is measured for fan-out only
            server = ServerProcess(spec)  # a fresh process per scenario: no leftovers
            try:
                print(f"  {name:<28} {spec.name:<28}", end="", flush=True, file=sys.stderr)
                metrics = await scenario(server, args)
                print(" ".join(f"{k}={v:,.1f}" for k, v in metrics.items()), file=sys.stderr)
                rows.append(Row(name, spec.name, metrics))
            except Exception as exc:
                print(f"FAILED: {exc!r}", file=sys.stderr)
                rows.append(Row(name, spec.name, {"error": float("nan")}))
            finally:
                server.stop()
                gc.collect()
    return rows


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="PondSocket benchmarks (ratio = this figure / websockets ceiling)")
    for column in ("scenario", "server", "figures", "vs ceiling"):
        table.add_column(column)
    ceilings = {r.scenario: r.metrics for r in rows if "ceiling" in r.server}
    for row in rows:
        ceiling = ceilings.get(row.scenario, {})
        figures = ", ".join(f"{k} {v:,.1f}" for k, v in row.metrics.items()) or "n/a"
        ratios = ", ".join(f"{k} {v / ceiling[k]:.2f}x" for k, v in row.metrics.items()
                           if ceiling.get(k) and "ceiling" not in row.server)
        table.add_row(row.scenario, row.server, figures, ratios)
    Console(width=200).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--no-upstream", action="store_true",
                        help="skip upstream pondsocket (no PyPI access needed)")
    parser.add_argument("--scenario", action="append", help="run scenarios containing this")
    args = parser.parse_args()
    full = not args.quick
    args.fanout = [100, 1000, 5000] if full else [100]
    args.messages = 100 if full else 20
    args.size = 100
    args.rooms = 1000 if full else 50
    args.presence_users = 1000 if full else 100
    args.idle = 5000 if full else 200
    args.requests = 2000 if full else 200
    args.slow_n = 100 if full else 20
    # Enough bytes (5 MB) for a reader that stopped to fill its socket buffers (the kernel
    # takes about 4 MB), so that the server itself has to hold or shed what it cannot send.
    args.slow_messages = 2500 if full else 300
    args.slow_rate = 500.0
    args.slow_size = 2000
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    rows = asyncio.run(run(args))
    print_table(rows)


if __name__ == "__main__":
    main()
