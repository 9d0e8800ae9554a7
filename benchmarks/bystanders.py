"""The bystander pair: two ``PondClient``\\ s chatting in a channel of their own, from their
own process, while a storm runs elsewhere on the same server.

Their own process, so that what they measure is the server's delay, not the storm driver's:
a driver busy with thousands of clients would delay the bystanders' frames itself.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from pondsocket_tools.client import PondClient

from .driver import percentile

RATE = 20.0  # messages per second from one bystander to the other
GRACE = 1.0  # seconds left for the last messages to arrive once told to stop


def _main(url: str, channel: str, rate: float, conn: Connection) -> None:
    asyncio.run(_chat(url, channel, rate, conn))


async def _chat(url: str, channel: str, rate: float, conn: Connection) -> None:
    """Send ``rate`` messages a second from one client to the other until told to stop;
    send back (latencies in seconds, messages sent)."""
    async with PondClient(url, {"name": "bystander-a"}) as a, \
               PondClient(url, {"name": "bystander-b"}) as b:
        sender = await a.join(channel)
        receiver = await b.join(channel)
        latencies: list[float] = []

        def got(message: Any) -> None:
            # wall clock: sender and receiver are the same process, so one clock
            latencies.append(time.time() - message.payload["sent_at"])

        receiver.on_message(got, "msg")
        conn.send("ready")
        sent = 0
        next_at = time.monotonic()
        while not conn.poll():
            await sender.send("msg", {"seq": sent, "sent_at": time.time()})
            sent += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.sleep(GRACE)  # a bounded wait: a message later than this is lost
        conn.send((latencies, sent))


@dataclass
class Bystanders:
    """The running pair; :meth:`stop` returns its figures."""

    process: multiprocessing.process.BaseProcess
    conn: Connection

    @classmethod
    def start(cls, url: str, channel: str, rate: float = RATE) -> Bystanders:
        """Start the pair on ``url``'s ``channel``; returns once both have joined."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=_main, args=(url, channel, rate, child), daemon=True)
        process.start()
        if not parent.poll(30) or parent.recv() != "ready":
            process.kill()
            raise RuntimeError("the bystanders did not start")
        return cls(process, parent)

    def stop(self) -> dict[str, float]:
        """Stop chatting: p99 latency of the messages that arrived, and how many did not."""
        self.conn.send("stop")
        if not self.conn.poll(GRACE + 30):
            self.kill()
            raise RuntimeError("the bystanders did not answer")
        latencies, sent = self.conn.recv()
        self.process.join(10)
        return {"bystander p99 ms": percentile(latencies, 99) * 1e3,
                "bystander lost": float(sent - len(latencies))}

    def kill(self) -> None:
        """End the process at once (a failed row)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
