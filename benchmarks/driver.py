"""The load driver: many WebSocket clients in one process, speaking the PondSocket protocol.

It runs in its own process, separate from every server under test, and only counts frames
(it parses JSON only where a scenario needs a timestamp), so it stays cheaper than the server.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from .payloads import payload

CONNECT_BATCH = 100


def _frame(action: str, channel: str, event: str, payload: dict, request_id: str = "") -> str:
    return json.dumps({"action": action, "event": event, "channelName": channel,
                       "requestId": request_id or uuid.uuid4().hex, "payload": payload})


async def _open(url: str, max_queue: int | None = 64,
                compression: str | None = "deflate") -> ClientConnection:
    # compression="deflate" offers permessage-deflate with the parameters browsers send
    ws = await connect(url, max_size=None, compression=compression, max_queue=max_queue,
                       open_timeout=30, ping_interval=None)
    first = json.loads(await ws.recv())
    assert first["action"] == "CONNECT", first
    return ws


async def _join(ws: ClientConnection, channel: str, params: dict | None = None) -> None:
    request_id = uuid.uuid4().hex
    await ws.send(_frame("JOIN_CHANNEL", channel, "JOIN_CHANNEL", params or {}, request_id))
    while True:  # skip presence frames of earlier joiners
        msg = json.loads(await ws.recv())
        if msg["requestId"] == request_id:
            assert msg["event"] == "ACKNOWLEDGE", msg
            return


async def open_members(url: str | list[str], channels: list[str], *,
                       max_queue: int | None = 64,
                       params: Callable[[int], dict] | None = None,
                       compression: str | None = "deflate",
                       query: str = "") -> list[ClientConnection]:
    """One joined connection per entry of ``channels`` (opened in batches); with several
    URLs (cluster nodes) the connections are spread over them in turn. ``compression``
    ("deflate" or None) is whether the clients offer permessage-deflate; ``query`` (such as
    ``"?pond_ext=presence-diff"``) is appended to every URL."""
    urls = [u + query for u in ([url] if isinstance(url, str) else url)]
    conns: list[ClientConnection] = []
    for start in range(0, len(channels), CONNECT_BATCH):
        batch = channels[start:start + CONNECT_BATCH]
        opened = await asyncio.gather(*(_open(urls[(start + i) % len(urls)], max_queue,
                                              compression)
                                        for i in range(len(batch))))
        await asyncio.gather(*(_join(ws, ch, params(start + i) if params else None)
                               for i, (ws, ch) in enumerate(zip(opened, batch, strict=True))))
        conns.extend(opened)
    return conns


def negotiated(ws: ClientConnection) -> str:
    """The compression the server agreed to, from its Sec-WebSocket-Extensions answer:
    ``deflate``, ``deflate (no context takeover)`` (what compress-once needs) or ``none``."""
    header = ws.response.headers.get("Sec-WebSocket-Extensions", "") if ws.response else ""
    if "permessage-deflate" not in header:
        return "none"
    if "server_no_context_takeover" in header:
        return "deflate (no context takeover)"
    return "deflate"


async def close_all(conns: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


def abort_all(conns: list[ClientConnection]) -> None:
    """Drop connections without a closing handshake: a reader that stopped never reads the
    server's close frame, so ``close()`` would wait its full close timeout (10 s)."""
    for ws in conns:
        ws.transport.abort()


@dataclass
class Counter:
    """Counts ``msg`` frames per connection and fires when every connection has ``target``."""

    target: int
    remaining: int
    done: asyncio.Event = field(default_factory=asyncio.Event)
    last: float = 0.0

    def hit(self) -> None:
        self.remaining -= 1
        if self.remaining == 0:
            self.last = time.perf_counter()
            self.done.set()


async def _count(ws: ClientConnection, counter: Counter, expected: int) -> None:
    seen = 0
    async for raw in ws:
        if '"event":"msg"' in raw:
            seen += 1
            counter.hit()
            if seen == expected:
                return


async def fan_out(conns: list[ClientConnection], publishers: list[tuple[ClientConnection, str]],
                  messages: int, payload_size: int, deliveries: int,
                  timeout: float = 180.0, rate: float = 0.0) -> float:
    """Each publisher sends ``messages`` payloads of ``payload_size`` bytes to its channel
    (as fast as the server takes them, or ``rate`` rounds per second); returns seconds until
    the ``deliveries`` expected frames have all arrived."""
    counter = Counter(deliveries, deliveries)
    per_conn = deliveries // len(conns)
    # encoded before the clock starts: the driver's own JSON work is not the server's time
    frames = [[_frame("BROADCAST", channel, "msg", payload(payload_size, seq))
               for _, channel in publishers] for seq in range(messages)]
    readers = [asyncio.create_task(_count(ws, counter, per_conn)) for ws in conns]
    started = time.perf_counter()
    for seq, batch in enumerate(frames):
        if rate > 0:  # a schedule, not a wait for anything: the load's shape
            await asyncio.sleep(max(0.0, started + seq / rate - time.perf_counter()))
        for (ws, _), frame in zip(publishers, batch, strict=True):
            await ws.send(frame)
    try:
        await asyncio.wait_for(counter.done.wait(), timeout)
    finally:
        for task in readers:
            task.cancel()
    return counter.last - started


async def request_reply(ws: ClientConnection, channel: str, count: int) -> list[float]:
    """Sequential ``ping`` requests; returns round-trip times in seconds."""
    times = []
    for _ in range(count):
        request_id = uuid.uuid4().hex
        sent = time.perf_counter()
        await ws.send(_frame("BROADCAST", channel, "ping", {"t": sent}, request_id))
        while True:
            raw = await ws.recv()
            if request_id in raw:
                break
        times.append(time.perf_counter() - sent)
    return times


async def paced_latency(fast: ClientConnection, publisher: ClientConnection, channel: str,
                        messages: int, rate: float, size: int = 200,
                        readers: list[ClientConnection] = ()) -> list[float]:
    """Publish ``messages`` at ``rate`` per second; the fast subscriber's delivery latencies.
    ``readers`` (the publisher among them) read and discard everything they receive."""
    latencies: list[float] = []
    done = asyncio.Event()

    async def read() -> None:
        async for raw in fast:
            if '"event":"msg"' in raw:
                sent = json.loads(raw)["payload"]["t"]
                latencies.append(time.perf_counter() - sent)
                if len(latencies) == messages:
                    done.set()
                    return

    reader = asyncio.create_task(read())
    others = [asyncio.create_task(_discard(ws)) for ws in readers]
    interval = 1.0 / rate

    async def publish() -> None:
        next_at = time.perf_counter()
        for seq in range(messages):
            await publisher.send(_frame("BROADCAST", channel, "msg",
                                        {"t": time.perf_counter(), **payload(size, seq)}))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await done.wait()

    try:  # a server that starves the fast reader (or stops reading) fails in 10 s, not 60
        await asyncio.wait_for(publish(), messages / rate + 10)
    finally:
        for task in (reader, *others):
            task.cancel()
    return latencies


async def _discard(ws: ClientConnection) -> None:
    async for _ in ws:
        pass


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:  # quantiles needs two
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
