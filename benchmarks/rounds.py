"""Interleaved rounds: every (scenario, setting, server) once per round, servers rotated.

Shared machines drift (another job starts, the CPU throttles), so rows measured back to back
are not comparable and one round proves little. Each round runs every server once per
(scenario, setting), starting from a different server each round (A, B, C; then B, C, A;
...), so drift spreads over all of them; the report takes the median of the rounds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from dataclasses import dataclass, field

from .processes import ServerProcess, ServerSpec
from .scenarios import Context, Scenario
from .settings import Setting

NOT_AVAILABLE = "not available"


@dataclass
class Result:
    """One row of the table: every round's figures for (label, setting, server)."""

    label: str
    setting: str
    server: str
    samples: list[dict[str, float]] = field(default_factory=list)
    negotiated: set[str] = field(default_factory=set)
    failures: list[str] = field(default_factory=list)
    note: str = ""

    def medians(self) -> dict[str, float]:
        """The median of each metric over the rounds that measured it."""
        return {metric: statistics.median(values) for metric, values in self._values().items()}

    def spreads(self) -> dict[str, tuple[float, float]]:
        """(min, max) of each metric over the rounds."""
        return {metric: (min(values), max(values)) for metric, values in self._values().items()}

    def _values(self) -> dict[str, list[float]]:
        values: dict[str, list[float]] = {}
        for sample in self.samples:
            for metric, value in sample.items():
                values.setdefault(metric, []).append(value)
        return values


def rotated(items: list[ServerSpec], by: int) -> list[ServerSpec]:
    """``items`` starting at index ``by`` (mod its length), wrapping around."""
    if not items:
        return []
    by %= len(items)
    return items[by:] + items[:by]


def plan(scenarios: list[Scenario], servers: list[ServerSpec], fanout_settings: list[Setting],
         other_settings: list[Setting]) -> list[tuple[Scenario, Setting, list[ServerSpec]]]:
    """(scenario, setting, servers) in run order; the cluster runs fan-out only, presence
    scenarios run on servers with presence only."""
    out = []
    for scenario in scenarios:
        chosen = [s for s in servers if (scenario.fanout or s.nodes == 1)
                  and s.runs(scenario.name) and (s.presence or not scenario.presence)]
        for setting in fanout_settings if scenario.fanout else other_settings:
            out.append((scenario, setting, chosen))
    return out


async def run(args: argparse.Namespace, scenarios: list[Scenario], servers: list[ServerSpec]
              ) -> list[Result]:
    """Every round of every planned row; returns the rows in table order."""
    results: dict[tuple[str, str, str], Result] = {}
    steps = plan(scenarios, servers, args.settings, args.other_settings)
    for scenario, setting, chosen in steps:  # table order: as planned, servers as listed
        for spec in chosen:
            for label in scenario.labels:
                results[label, setting.name, spec.name] = Result(label, setting.name, spec.name)
    for round_no in range(args.rounds):
        for scenario, setting, chosen in steps:
            for spec in rotated(chosen, round_no):
                rows = [results[label, setting.name, spec.name] for label in scenario.labels]
                if spec.command_for(setting.server_mode) is None:
                    for row in rows:
                        row.note = NOT_AVAILABLE
                    continue
                await _measure(args, scenario, setting, spec, rows, round_no)
    return list(results.values())


async def _measure(args: argparse.Namespace, scenario: Scenario, setting: Setting,
                   spec: ServerSpec, rows: list[Result], round_no: int) -> None:
    """One sample of one scenario on a fresh server process (no leftovers between rows)."""
    print(f"  round {round_no + 1}/{args.rounds} {scenario.name:<22} {setting.name:<14} "
          f"{spec.name:<31}", end="", flush=True, file=sys.stderr)
    started = time.perf_counter()
    server = None
    try:
        server = ServerProcess(spec, setting.server_mode)
        ctx = Context(server, args, setting.offer_deflate)
        figures = await scenario.run(ctx)
        negotiated = set(ctx.negotiated)
        for row in rows:
            row.samples.append(figures.get(row.label, {}))
            row.negotiated |= negotiated
        print(f"{time.perf_counter() - started:5.1f}s  " + "; ".join(
            f"{label}: " + " ".join(f"{k}={v:,.1f}" for k, v in metrics.items())
            for label, metrics in figures.items()), file=sys.stderr)
    except Exception as exc:
        print(f"FAILED: {exc!r}", file=sys.stderr)
        for row in rows:
            row.failures.append(repr(exc))
    finally:
        if server is not None:
            server.stop()
        gc.collect()
