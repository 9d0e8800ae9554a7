"""What history costs: ``python -m benchmarks.history`` (``--quick`` for a smoke run).

Rows, server CPU measured from /proc as in the main benchmark (docs/benchmarks.md):

* fan-out N subscribers of one channel (all of them clients that negotiated ``history``,
  the kind that gets the offset frames), CPU µs per delivery with history off (the relay
  app) and on (the same app with ``enable_history``), interleaved per round: on one node
  (in-memory history) and on 2 nodes over ``RedisPubSub`` with a ``RedisHistoryStore``
  (half the subscribers on each node, the publisher on node 1; CPU summed over both nodes
  and the redis-server, which the benchmark starts on a free port, and each process's
  own figure: where the difference is spent);
* on 2 nodes, a control: history off, the relay awaiting one Redis ``PING`` before each
  broadcast (``benchmarks.servers.roundtrip_app``), so that what an awaited round trip per
  broadcast costs by itself is told apart from history's own work;
* replaying M missed broadcasts to one rejoining client (one node): server CPU from its
  join frame to the last replayed frame.

All servers are the direct ``wsserver`` adapter without compression. Medians over the
rounds with their min-max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from . import driver
from .processes import ROOT, ServerProcess, ServerSpec

HISTORY_QUERY = "?pond_ext=history"
APPS = {"off": ["benchmarks.servers.pond_app", "{port}", "none"],
        "on": ["benchmarks.servers.history_app", "{port}"],
        "round trip": ["benchmarks.servers.roundtrip_app", "{port}"]}
# The 2-node row's control: history off, one awaited Redis PING per broadcast.
CONTROL = "round trip"


def _variants(nodes: int) -> tuple[str, ...]:
    """What a fan-out row runs on ``nodes`` (the control only where there is a Redis)."""
    return ("off", "on") if nodes == 1 else ("off", "on", CONTROL)


def _spec(nodes: int, name: str) -> ServerSpec:
    """Variant ``name`` (off, on, round trip) on ``nodes`` wsserver processes (2: plus their
    Redis)."""
    return ServerSpec(f"wsserver x{nodes}, history {name}", [sys.executable, "-m", *APPS[name]],
                      ROOT, nodes=nodes)


async def _send_join(ws: ClientConnection, channel: str, params: dict[str, Any]) -> str:
    rid = uuid.uuid4().hex
    await ws.send(json.dumps({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                              "channelName": channel, "requestId": rid, "payload": params}))
    return rid


async def _ack(ws: ClientConnection, rid: str) -> dict[str, Any]:
    while True:
        frame = json.loads(await ws.recv())
        if frame["requestId"] == rid:
            return frame["payload"]


async def _open(url: str) -> ClientConnection:
    ws = await connect(url, max_size=None, compression=None, max_queue=None,
                       open_timeout=30, ping_interval=None)
    await ws.recv()  # CONNECT
    return ws


async def fanout_row(server: ServerProcess, n: int, messages: int, rate: float = 0.0
                     ) -> list[float]:
    """CPU µs per delivery for ``messages`` broadcasts of 100 B to ``n`` history clients
    (flooded, or ``rate`` per second), per process of ``server`` (on 2 nodes: Redis, node 1,
    node 2)."""
    # spread in turn over the nodes: conns[0], the publisher, is on node 1
    conns = await driver.open_members([url + HISTORY_QUERY for url in server.urls],
                                      ["/bench/1"] * n, compression=None)
    try:
        cpu0 = [process.cpu_seconds() for process in server.processes]
        await driver.fan_out(conns, [(conns[0], "/bench/1")], messages, 100, n * messages,
                             rate=rate)
        return [(process.cpu_seconds() - before) / (n * messages) * 1e6
                for process, before in zip(server.processes, cpu0, strict=True)]
    finally:
        await driver.close_all(conns)


async def replay_row(server: ServerProcess, missed: int) -> float:
    """Server CPU ms to replay ``missed`` broadcasts to one rejoining client."""
    url = server.url + HISTORY_QUERY
    channel = "/bench/replay"
    sender, reader = await _open(url), await _open(url)
    try:
        await _ack(sender, await _send_join(sender, channel, {}))
        ack = await _ack(reader, await _send_join(reader, channel, {}))
        await reader.close()
        frames = [json.dumps({"action": "BROADCAST", "event": "msg", "channelName": channel,
                              "requestId": f"m{i}", "payload": {"n": i}})
                  for i in range(missed)]
        for frame in frames:
            await sender.send(frame)
        seen = 0
        while seen < missed:  # every broadcast is stored once its echo is back
            seen += '"event":"msg"' in await sender.recv()
        again = await _open(url)
        cpu0 = server.cpu_seconds()
        rid = await _send_join(again, channel, {"pond_recover": {
            "epoch": ack["epoch"], "offset": ack["offset"]}})
        answer = await _ack(again, rid)
        assert answer.get("recovered") is True, answer
        got = 0
        while got < missed:
            got += '"event":"msg"' in await again.recv()
        cpu = server.cpu_seconds() - cpu0
        await again.close()
        return cpu * 1e3
    finally:
        await asyncio.gather(sender.close(), reader.close(), return_exceptions=True)


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


async def measure(nodes: int, name: str, args: argparse.Namespace,
                  replay: list[float]) -> list[float]:
    """The fan-out figure of each process for history ``name`` on ``nodes`` fresh processes
    (on one node with history on, also a replay figure into ``replay``)."""
    # a namespace per run: its topics and history keys are its own
    env = {"POND_NAMESPACE": f"histbench-{uuid.uuid4().hex[:12]}"}
    server = ServerProcess(_spec(nodes, name), extra_env=env)
    try:
        figure = await fanout_row(server, args.n, args.messages, args.rate)
        if nodes == 1 and name == "on":
            replay.append(await replay_row(server, args.missed))
        return figure
    finally:
        server.stop()


# What each process of a 2-node row is, in ServerProcess.processes order.
PROCESS_NAMES = ("Redis", "node 1 (the publisher's)", "node 2")


def _report(fanout: dict[tuple[int, str], list[list[float]]], replay: list[float],
            args: argparse.Namespace) -> None:
    for nodes in args.node_counts:
        off = [sum(split) for split in fanout[nodes, "off"]]
        on = [sum(split) for split in fanout[nodes, "on"]]
        ratios = [a / b for a, b in zip(on, off, strict=True)]
        where = ("1 node, in-memory history" if nodes == 1 else
                 f"{nodes} nodes + Redis (CPU summed), RedisHistoryStore")
        pace = f", {args.rate:g} broadcasts/s" if args.rate > 0 else ""
        print(f"fan-out N={args.n}, 100 B{pace}, history clients, {where}: server CPU "
              f"µs/delivery, median (min-max) of {args.rounds} rounds")
        print(f"  history off: {_summary(off)}")
        print(f"  history on:  {_summary(on)}")
        print(f"  on/off:      {_summary(ratios)}")
        if nodes == 1:
            continue
        control = [sum(split) for split in fanout[nodes, CONTROL]]
        print(f"  round trip only (history off, one Redis PING awaited per broadcast): "
              f"{_summary(control)}")
        print(f"  round trip/off: {_summary([a / b for a, b in zip(control, off, strict=True)])}")
        for index, label in enumerate(PROCESS_NAMES):  # where the differences are spent
            each = {name: _summary([split[index] for split in fanout[nodes, name]])
                    for name in _variants(nodes)}
            print(f"    {label}: off {each['off']}, on {each['on']}, "
                  f"round trip {each[CONTROL]}")
    if replay:
        print(f"replay of {args.missed} missed broadcasts to one client: server CPU ms, "
              f"median (min-max): {_summary(replay)}")


async def run(args: argparse.Namespace) -> None:
    fanout: dict[tuple[int, str], list[list[float]]] = {
        (nodes, name): [] for nodes in args.node_counts for name in _variants(nodes)}
    replay: list[float] = []
    for round_no in range(args.rounds):
        for nodes in args.node_counts:
            # the variants interleaved, the order rotated every round (drift hits all alike)
            names = _variants(nodes)
            turn = round_no % len(names)
            for name in names[turn:] + names[:turn]:
                fanout[nodes, name].append(await measure(nodes, name, args, replay))
            off, on = (sum(fanout[nodes, name][-1]) for name in ("off", "on"))
            print(f"round {round_no + 1}, {nodes} node(s): off {off:.2f}, on {on:.2f} "
                  "µs/delivery", file=sys.stderr)
    _report(fanout, replay, args)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=1000, help="subscribers in the fan-out row")
    parser.add_argument("--messages", type=int, default=200, help="broadcasts per fan-out row")
    parser.add_argument("--missed", type=int, default=1000, help="broadcasts to replay")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="broadcasts per second in the fan-out rows (default: as fast as "
                             "the server takes them); a rate both off and on sustain compares "
                             "them under the same load")
    parser.add_argument("--nodes", choices=("1", "2", "both"), default="both",
                        help="the fan-out rows to run: 1 node, 2 nodes + Redis, or both")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: N=20, 5 messages, 50 missed, 1 round")
    args = parser.parse_args(argv)
    args.node_counts = [1, 2] if args.nodes == "both" else [int(args.nodes)]
    if 2 in args.node_counts and not shutil.which("redis-server"):
        parser.error("the 2-node row needs redis-server on PATH (or use --nodes 1)")
    if args.quick:
        args.n, args.messages, args.missed, args.rounds = 20, 5, 50, 1
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
