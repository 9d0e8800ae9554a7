"""What history costs: ``python -m benchmarks.history`` (``--quick`` for a smoke run).

Two rows, server CPU measured from /proc as in the main benchmark (docs/benchmarks.md):

* fan-out N subscribers of one channel (all of them clients that negotiated ``history``,
  the kind that gets the offset frames), CPU µs per delivery with history off (the relay
  app) and on (the same app with ``enable_history``), interleaved per round;
* replaying M missed broadcasts to one rejoining client: server CPU from its join frame to
  the last replayed frame.

Both servers are the direct ``wsserver`` adapter without compression. Medians over the
rounds with their min-max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from . import driver
from .processes import ROOT, ServerProcess, ServerSpec

HISTORY_QUERY = "?pond_ext=history"
SERVERS = {
    "off": ServerSpec("wsserver, history off", [sys.executable, "-m",
                                                "benchmarks.servers.pond_app", "{port}",
                                                "none"], ROOT),
    "on": ServerSpec("wsserver, history on", [sys.executable, "-m",
                                              "benchmarks.servers.history_app", "{port}"], ROOT),
}


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


async def fanout_row(server: ServerProcess, n: int, messages: int) -> float:
    """CPU µs per delivery for ``messages`` broadcasts of 100 B to ``n`` history clients."""
    conns = await driver.open_members(server.url + HISTORY_QUERY, ["/bench/1"] * n,
                                      compression=None)
    try:
        cpu0 = server.cpu_seconds()
        await driver.fan_out(conns, [(conns[0], "/bench/1")], messages, 100, n * messages)
        return (server.cpu_seconds() - cpu0) / (n * messages) * 1e6
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


async def run(args: argparse.Namespace) -> None:
    fanout: dict[str, list[float]] = {"off": [], "on": []}
    replay: list[float] = []
    for round_no in range(args.rounds):
        order = ["off", "on"] if round_no % 2 == 0 else ["on", "off"]
        for name in order:
            server = ServerProcess(SERVERS[name])
            try:
                fanout[name].append(await fanout_row(server, args.n, args.messages))
                if name == "on":
                    replay.append(await replay_row(server, args.missed))
            finally:
                server.stop()
        print(f"round {round_no + 1}: off {fanout['off'][-1]:.2f}, on {fanout['on'][-1]:.2f} "
              f"µs/delivery; replay {replay[-1]:.1f} ms", file=sys.stderr)
    ratios = [on / off for on, off in zip(fanout["on"], fanout["off"], strict=True)]
    print(f"fan-out N={args.n}, 100 B, history clients: server CPU µs/delivery, median "
          f"(min-max) of {args.rounds} rounds")
    print(f"  history off: {_summary(fanout['off'])}")
    print(f"  history on:  {_summary(fanout['on'])}")
    print(f"  on/off:      {_summary(ratios)}")
    print(f"replay of {args.missed} missed broadcasts to one client: server CPU ms, median "
          f"(min-max): {_summary(replay)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=1000, help="subscribers in the fan-out row")
    parser.add_argument("--messages", type=int, default=200, help="broadcasts per fan-out row")
    parser.add_argument("--missed", type=int, default=1000, help="broadcasts to replay")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: N=20, 5 messages, 50 missed, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.messages, args.missed, args.rounds = 20, 5, 50, 1
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
