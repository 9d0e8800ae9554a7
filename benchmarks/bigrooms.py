"""Big rooms: presence storms against ``pondctl demo``, with a bystander chat measured from
its own process (docs/big-rooms.md#measuring).

``python -m benchmarks.bigrooms`` runs, each against a fresh demo server on 127.0.0.1:

* ``sdk N``: N ``PondClient``\\ s (the presence-diff extension) join one channel, 100 at a
  time; every join must be acknowledged and every client's presence must reach N members;
* ``diff N`` / ``upstream N``: N raw WebSocket clients with and without ``pond_ext=
  presence-diff`` (the latter speak the upstream protocol), counting the presence bytes
  they receive and the members their frames describe.

For each storm: server CPU per join, presence bytes per join per member (raw clients), and the
bystander pair's p99 latency and lost messages (two clients chatting in another channel,
from another process). ``--rows`` picks the storms, e.g. ``--rows sdk:1000 upstream:300``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from pondsocket_tools.client import PondClient

from .processes import ROOT as REPO
from .processes import free_port

BATCH = 100
DEADLINE = 600.0  # seconds a storm may take before it counts as failed


class Demo:
    """``pondctl demo`` on a free port of 127.0.0.1, and its CPU time."""

    def __init__(self) -> None:
        self.port = free_port()
        pondctl = os.path.join(os.path.dirname(sys.executable), "pondctl")
        self.proc = subprocess.Popen([pondctl, "demo", "--port", str(self.port)], cwd=REPO,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pondctl demo did not start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)  # a process start-up: there is no event to wait for

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/api/socket"

    def cpu_seconds(self) -> float:
        total = 0
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            with contextlib.suppress(OSError):  # the thread just exited
                total += int((task / "schedstat").read_text().split()[0])
        return total / 1e9

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the bystander pair, in its own process ---------------------------------------------------

def bystander_main(url: str, channel: str, rate: float, conn: Connection) -> None:
    """Chat at ``rate`` messages/s from one client to another until told to stop; send back
    (latencies, sent)."""
    asyncio.run(_bystander(url, channel, rate, conn))


async def _bystander(url: str, channel: str, rate: float, conn: Connection) -> None:
    async with PondClient(url, {"token": "demo", "name": "bystander-a"}) as a, \
               PondClient(url, {"token": "demo", "name": "bystander-b"}) as b:
        chat_a = await a.join(channel)
        chat_b = await b.join(channel)
        received: dict[int, float] = {}

        def got(message: Any) -> None:
            text = message.payload.get("text", "")
            if text.startswith("t:"):
                seq, sent_at = text[2:].split("@")
                received[int(seq)] = time.time() - float(sent_at)

        chat_b.on_message(got, "message")
        conn.send("ready")
        sent = 0
        while not conn.poll():
            await chat_a.send("message", {"text": f"t:{sent}@{time.time()!r}"})
            sent += 1
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(1.0)  # the last messages' delivery: a bounded grace period
        conn.send((list(received.values()), sent))


@dataclass
class Bystanders:
    process: multiprocessing.process.BaseProcess
    conn: Connection

    @classmethod
    def start(cls, url: str, channel: str, rate: float) -> Bystanders:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=bystander_main, args=(url, channel, rate, child),
                              daemon=True)
        process.start()
        if not parent.poll(30) or parent.recv() != "ready":
            raise RuntimeError("the bystanders did not start")
        return cls(process, parent)

    def stop(self) -> dict[str, float]:
        self.conn.send("stop")
        latencies, sent = self.conn.recv()
        self.process.join(10)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0
        return {"bystander msgs": sent, "bystander lost": sent - len(latencies),
                "bystander p99 ms": p99 * 1e3}


# -- the storms -----------------------------------------------------------------------------

@dataclass
class RawMember:
    """A raw WebSocket member counting presence bytes and the members its frames describe."""

    ws: ClientConnection
    target: int
    members: int = 0
    presence_bytes: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    keys: set[str] = field(default_factory=set)

    async def read(self) -> None:
        async for data in self.ws:
            raw = data if isinstance(data, str) else data.decode()
            if '"action":"PRESENCE"' not in raw[:40]:
                continue
            self.presence_bytes += len(raw)
            frame = json.loads(raw)
            payload, event = frame["payload"], frame["event"]
            if event == "STATE":
                self.keys = set(payload["state"])
            elif event == "DIFF":
                self.keys.update(payload["joins"])
                self.keys.difference_update(payload["leaves"])
            if event in ("STATE", "DIFF"):
                self.members = len(self.keys)
            else:
                self.members = len(payload["presence"])
            if self.members >= self.target:
                self.done.set()


async def raw_join(url: str, channel: str, name: str, target: int, diff: bool) -> RawMember:
    query = f"?token=demo&name={name}" + ("&pond_ext=presence-diff" if diff else "")
    ws = await connect(url + query, max_queue=None, compression=None, open_timeout=60)
    await ws.recv()  # CONNECT
    rid = f"j-{name}"
    await ws.send(json.dumps({"action": "JOIN_CHANNEL", "channelName": channel,
                              "event": channel, "requestId": rid, "payload": {}}))
    member = RawMember(ws, target)
    while True:  # the acknowledgement first: nothing of the channel comes before it
        raw = await ws.recv(decode=True)
        frame = json.loads(raw)
        if frame["requestId"] == rid:
            if (frame["action"], frame["event"]) != ("SYSTEM", "ACKNOWLEDGE"):
                raise RuntimeError(f"join of {name} refused: {raw}")
            break
    return member


async def raw_storm(url: str, channel: str, n: int, diff: bool) -> tuple[dict[str, float],
                                                                        Callable[[], Any]]:
    members: list[RawMember] = []
    readers: list[asyncio.Future[None]] = []
    for start in range(0, n, BATCH):
        batch = await asyncio.gather(*(raw_join(url, channel, f"u{i}", n, diff)
                                       for i in range(start, min(n, start + BATCH))))
        members.extend(batch)
        readers.extend(asyncio.ensure_future(m.read()) for m in batch)
    await asyncio.wait_for(asyncio.gather(*(m.done.wait() for m in members)), DEADLINE)
    total = sum(m.presence_bytes for m in members)
    # Each join is learnt by the members already there (and the joiner learns everyone).
    figures = {"joins acked": len(members), "all saw N": float(all(m.members == n
                                                                    for m in members)),
               "presence B/join/member": total / (n * n / 2)}

    async def close() -> None:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*(m.ws.close() for m in members), return_exceptions=True)
    return figures, close


async def sdk_storm(url: str, channel: str, n: int) -> tuple[dict[str, float],
                                                             Callable[[], Any]]:
    clients = [PondClient(url, {"token": "demo", "name": f"u{i}"}) for i in range(n)]
    chats = []
    full = asyncio.Event()
    complete = 0

    def watch(chat: Any) -> None:
        seen = [False]

        def on_presence(_event: Any) -> None:
            nonlocal complete
            if not seen[0] and chat.member_count >= n:
                seen[0] = True
                complete += 1
                if complete == n:
                    full.set()
        chat.on_presence(on_presence)

    for start in range(0, n, BATCH):
        batch = await asyncio.gather(*(c.join(channel) for c in clients[start:start + BATCH]))
        for chat in batch:
            watch(chat)
            if chat.member_count >= n:  # already complete before the callback was set
                chat.on_presence(lambda _e: None)
        chats.extend(batch)
    if complete < n and sum(1 for c in chats if c.member_count >= n) < n:
        await asyncio.wait_for(full.wait(), DEADLINE)
    figures = {"joins acked": len(chats),
               "all saw N": float(all(c.member_count == n for c in chats)),
               "diff granted": float(all("presence-diff" in c.extensions for c in clients))}

    async def close() -> None:
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return figures, close


async def run_row(kind: str, n: int, rate: float) -> dict[str, float]:
    server = Demo()
    url = server.url
    try:
        bystanders = Bystanders.start(url, "/chat/bystanders", rate)
        cpu0 = server.cpu_seconds()
        started = time.perf_counter()
        if kind == "sdk":
            figures, close = await sdk_storm(url, "/chat/storm", n)
        else:
            figures, close = await raw_storm(url, "/chat/storm", n, diff=kind == "diff")
        elapsed = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu0
        figures.update(bystanders.stop())
        figures.update({"seconds": elapsed, "server cpu ms/join": cpu / n * 1e3})
        await close()
        return figures
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bigrooms",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["diff:1000", "diff:5000", "upstream:1000"],
                        help="storms as KIND:N, KIND one of sdk, diff, upstream")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (medians)")
    parser.add_argument("--rate", type=float, default=20.0, help="bystander messages/s")
    args = parser.parse_args(argv)
    rows = [(kind, int(n)) for kind, n in (row.split(":") for row in args.rows)]
    results: dict[str, list[dict[str, float]]] = {f"{k} {n}": [] for k, n in rows}
    for _ in range(args.rounds):
        for kind, n in rows:
            results[f"{kind} {n}"].append(asyncio.run(run_row(kind, n, args.rate)))
    medians: dict[str, dict[str, float]] = {}
    for label, runs in results.items():
        medians[label] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        spread = {key: (min(r[key] for r in runs), max(r[key] for r in runs))
                  for key in runs[0]}
        cells = ", ".join(f"{key} {value:.4g}" + (f" [{spread[key][0]:.4g}-{spread[key][1]:.4g}]"
                                                   if len(runs) > 1 else "")
                          for key, value in medians[label].items())
        print(f"{label}: {cells}")
    for small, big in (("diff 1000", "diff 5000"), ("sdk 1000", "sdk 5000")):
        if small in medians and big in medians:
            a, b = medians[small], medians[big]
            cpu = b["server cpu ms/join"] / a["server cpu ms/join"]
            line = f"{big} / {small}: cpu/join {cpu:.2f}x"
            if "presence B/join/member" in a:
                size = b["presence B/join/member"] / a["presence B/join/member"]
                line += f", presence bytes/join/member {size:.2f}x"
            print(line)
    print(f"({args.rounds} round(s); {os.cpu_count()} CPUs, shared with other work)")


if __name__ == "__main__":
    main()
