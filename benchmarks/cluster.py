"""``python -m benchmarks --scenario cluster``: what a node costs as the cluster grows.

Rooms workload: every busy node serves ``ROOMS`` rooms of ``MEMBERS`` members, all
connected to it, and one member of each room publishes (``RATE`` broadcasts a second per
node in all), so a node serves its own rooms only. Configurations: 1, 2 and 4 busy nodes
over 1 and 2 Redis shards, plus "A busy, B quiet": node B holds only one quiet room (no
traffic), which shows what a node spends on channels it does not serve; the last two
run over a three-master Redis Cluster (sharded pub/sub).

Per node it prints CPU per delivered message (node CPU time in the window over the
broadcast frames its clients received) and its CPU share; per configuration the Redis
messages in (``PUBLISH`` and ``SPUBLISH`` calls, from ``INFO commandstats``) and bytes out
(``INFO stats`` ``total_net_output_bytes``) per second, summed over the shards, and the
Redis servers' CPU per ``PUBLISH`` (each delivered to one subscriber here). Each figure is
the median of ``--rounds`` interleaved rounds (configurations rotated per round) with its min-max.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from .processes import ROOT, SCHEDSTAT, free_port

ROOMS = 10
MEMBERS = 5
RATE = 460.0  # broadcasts a second per busy node
WARMUP = 1.0
WINDOW = 3.0


@dataclass(frozen=True)
class Config:
    """``busy`` nodes publishing in their own rooms, ``quiet`` nodes with one silent room
    each, over ``shards`` Redis servers."""

    busy: int
    quiet: int
    shards: int
    redis_cluster: bool = False  # the shards are the masters of one Redis Cluster

    @property
    def label(self) -> str:
        quiet = f" + {self.quiet} quiet" if self.quiet else ""
        redis = (f"a {self.shards}-master Redis Cluster" if self.redis_cluster
                 else f"{self.shards} shard(s)")
        return f"{self.busy} busy{quiet} node(s), {redis}"


CONFIGS = [Config(1, 0, 1), Config(2, 0, 1), Config(4, 0, 1), Config(1, 1, 1),
           Config(1, 0, 2), Config(2, 0, 2), Config(4, 0, 2), Config(1, 1, 2),
           Config(1, 0, 3, True), Config(1, 1, 3, True)]


def _cpu_seconds(pid: int) -> float:
    if not SCHEDSTAT:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


async def _listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout}s")


@dataclass
class Sample:
    """One configuration's figures in one round."""

    node_us_per_delivery: list[float] = field(default_factory=list)
    node_cpu_share: list[float] = field(default_factory=list)  # CPU seconds per second
    redis_publish_per_s: float = 0.0
    redis_out_bytes_per_s: float = 0.0
    redis_us_per_publish: float = 0.0  # Redis CPU (all shards) per PUBLISH


async def _member(url: str, room: str, counter: list[int]) -> ClientConnection:
    ws = await connect(url, max_size=None, compression=None, ping_interval=None,
                       open_timeout=30)
    json.loads(await ws.recv())  # CONNECT
    request_id = uuid.uuid4().hex
    await ws.send(json.dumps({"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL",
                              "channelName": room, "requestId": request_id, "payload": {}}))
    while json.loads(await ws.recv())["requestId"] != request_id:
        pass

    async def read() -> None:
        with contextlib.suppress(Exception):
            async for frame in ws:
                if isinstance(frame, str) and '"BROADCAST"' in frame:
                    counter[0] += 1

    asyncio.get_running_loop().create_task(read())
    return ws


async def _publish(publishers: list[ClientConnection], rooms: list[str], rate: float,
                   until: float) -> None:
    """Send ``rate`` broadcasts a second over ``publishers`` in turn until ``until``."""
    loop = asyncio.get_running_loop()
    start, sent = loop.time(), 0
    body = {"text": "x" * 100}
    while loop.time() < until:
        due = int((loop.time() - start) * rate)
        while sent < due:
            i = sent % len(publishers)
            await publishers[i].send(json.dumps({
                "action": "BROADCAST", "event": "msg", "channelName": rooms[i],
                "requestId": str(sent), "payload": body}))
            sent += 1
        await asyncio.sleep(0.005)


async def _redis_totals(clients: list[Redis]) -> tuple[float, float]:
    publishes = out = 0.0
    for client in clients:
        stats = await client.info("commandstats")
        publishes += stats.get("cmdstat_publish", {}).get("calls", 0)
        publishes += stats.get("cmdstat_spublish", {}).get("calls", 0)
        out += (await client.info("stats"))["total_net_output_bytes"]
    return publishes, out


def _cluster_port() -> int:
    """A free port whose Redis Cluster bus port (+10000) is usable."""
    while (port := free_port()) + 10000 > 65535:
        pass
    return port


async def _start_redis(config: Config, workdir: str) -> tuple[list[int],
                                                               list[subprocess.Popen[bytes]]]:
    ports = [_cluster_port() if config.redis_cluster else free_port()
             for _ in range(config.shards)]
    extra = ["--cluster-enabled", "yes", "--dir", workdir] if config.redis_cluster else []
    procs = [subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", *extra,
         *(["--cluster-config-file", f"nodes-{port}.conf"] if config.redis_cluster else [])],
        stdout=subprocess.DEVNULL) for port in ports]
    for port, proc in zip(ports, procs, strict=True):
        await _listening(port, proc)
    if config.redis_cluster:
        await asyncio.to_thread(subprocess.run, [
            "redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True,
            timeout=60)
        for port in ports:
            client = Redis(port=port)
            try:
                async with asyncio.timeout(30):
                    while "cluster_state:ok" not in (
                            await client.execute_command("CLUSTER", "INFO")).decode():
                        await asyncio.sleep(0.1)
            finally:
                await client.aclose()
    return ports, procs


async def measure(config: Config) -> Sample:
    """Start the shards and nodes of ``config``, run the workload, stop everything."""
    procs: list[subprocess.Popen[bytes]] = []
    conns: list[ClientConnection] = []
    redis_clients: list[Redis] = []
    workdir = tempfile.mkdtemp(prefix="pond-bench-redis-")
    try:
        redis_ports, procs = await _start_redis(config, workdir)
        env = {**os.environ, "PYTHONPATH": str(ROOT),
               "REDIS_URL": ",".join(f"redis://127.0.0.1:{p}" for p in redis_ports)}
        if config.redis_cluster:
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_ports[0]}"
            env["REDIS_CLUSTER"] = "1"
        nodes = []
        for _ in range(config.busy + config.quiet):
            port = free_port()
            proc = subprocess.Popen([sys.executable, "-m", "benchmarks.servers.pond_app",
                                     str(port)], cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL)
            procs.append(proc)
            nodes.append((port, proc))
        for port, proc in nodes:
            await _listening(port, proc)
        counters = [[0] for _ in nodes]
        publishers: list[list[ClientConnection]] = []
        rooms: list[list[str]] = []
        for index, (port, _) in enumerate(nodes):
            url = f"ws://127.0.0.1:{port}/ws"
            busy = index < config.busy
            names = [f"/bench/n{index}-r{r}" for r in range(ROOMS if busy else 1)]
            members = await asyncio.gather(*(_member(url, room, counters[index])
                                             for room in names for _ in range(MEMBERS)))
            conns.extend(members)
            if busy:
                publishers.append(members[::MEMBERS])
                rooms.append(names)
        redis_clients = [Redis(port=p) for p in redis_ports]
        loop = asyncio.get_running_loop()
        end = loop.time() + WARMUP + WINDOW
        senders = [loop.create_task(_publish(p, r, RATE, end))
                   for p, r in zip(publishers, rooms, strict=True)]
        await asyncio.sleep(WARMUP)
        cpu0 = [_cpu_seconds(proc.pid) for _, proc in nodes]
        redis_cpu0 = sum(_cpu_seconds(proc.pid) for proc in procs[:config.shards])
        got0 = [c[0] for c in counters]
        redis0 = await _redis_totals(redis_clients)
        t0 = loop.time()
        await asyncio.gather(*senders)
        elapsed = loop.time() - t0
        cpu = [_cpu_seconds(proc.pid) - c for (_, proc), c in zip(nodes, cpu0, strict=True)]
        got = [c[0] - g for c, g in zip(counters, got0, strict=True)]
        redis1 = await _redis_totals(redis_clients)
        redis_cpu = sum(_cpu_seconds(proc.pid) for proc in procs[:config.shards]) - redis_cpu0
        return Sample(
            redis_us_per_publish=redis_cpu / max(redis1[0] - redis0[0], 1) * 1e6,
            node_us_per_delivery=[c / g * 1e6 if g else float("nan")
                                  for c, g in zip(cpu, got, strict=True)],
            node_cpu_share=[c / elapsed for c in cpu],
            redis_publish_per_s=(redis1[0] - redis0[0]) / elapsed,
            redis_out_bytes_per_s=(redis1[1] - redis0[1]) / elapsed)
    finally:
        for client in redis_clients:
            await client.aclose()
        for proc in reversed(procs):  # thrown away: no graceful shutdown to wait for
            proc.kill()
        for proc in procs:
            proc.wait()
        await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
        shutil.rmtree(workdir, ignore_errors=True)


def _spread(values: list[float], fmt: str = "{:.1f}") -> str:
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))})")


def report(samples: dict[Config, list[Sample]], rounds: int) -> None:
    """Print per configuration and node: medians (min-max) over the rounds."""
    print(f"cluster rooms workload: {ROOMS} rooms x {MEMBERS} members per busy node, "
          f"{RATE:g} broadcasts/s per busy node; median (min-max) of {rounds} interleaved "
          "round(s)")
    base: dict[int, float] = {}
    for config, rows in samples.items():
        print(f"\n{config.label}: Redis in {_spread([r.redis_publish_per_s for r in rows])} "
              f"PUBLISH/s, out {_spread([r.redis_out_bytes_per_s / 1e3 for r in rows])} KB/s, "
              f"Redis CPU {_spread([r.redis_us_per_publish for r in rows])} us per PUBLISH")
        for node in range(config.busy + config.quiet):
            share = [r.node_cpu_share[node] * 100 for r in rows]
            kind = "busy" if node < config.busy else "quiet"
            line = f"  node {node} ({kind}): CPU {_spread(share)} %"
            if kind == "busy":
                per = [r.node_us_per_delivery[node] for r in rows]
                median = statistics.median(per)
                if config.busy == 1 and config.quiet == 0:
                    base[config.shards] = median
                ratio = (f", {median / base[config.shards]:.2f}x one node"
                         if config.shards in base else "")
                line += f", {_spread(per)} us per delivered message{ratio}"
            else:
                busy = [r.node_cpu_share[0] for r in rows]
                ratios = [q / b * 100 for q, b in zip(
                    [r.node_cpu_share[node] for r in rows], busy, strict=True)]
                line += f" = {_spread(ratios)} % of the busy node's"
            print(line)


async def run_all(rounds: int, configs: list[Config] | None = None) -> None:
    """Every configuration once per round, starting from another one each round."""
    configs = configs or CONFIGS
    samples: dict[Config, list[Sample]] = {c: [] for c in configs}
    for round_index in range(rounds):
        order = configs[round_index % len(configs):] + configs[:round_index % len(configs)]
        for config in order:
            samples[config].append(await measure(config))
            print(f"round {round_index + 1}: {config.label} done", file=sys.stderr)
    report(samples, rounds)


def main(rounds: int) -> None:
    started = time.perf_counter()
    asyncio.run(run_all(rounds))
    print(f"run took {time.perf_counter() - started:.0f} s", file=sys.stderr)


__all__ = ["CONFIGS", "Config", "Sample", "main", "measure", "report", "run_all"]
