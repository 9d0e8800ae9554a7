"""The benchmark command: its options, its round order, and one tiny row end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import build_parser, resolve
from benchmarks.processes import ServerSpec
from benchmarks.rounds import rotated

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_full_run() -> None:
    args = resolve(build_parser().parse_args([]))
    assert args.rounds == 3
    assert args.fanout == [1000]
    assert args.sizes == [100, 2048, 16384]
    assert [s.name for s in args.settings] == ["off", "per-recipient", "compress-once",
                                               "no-offer"]
    assert [s.offer_deflate for s in args.settings] == [True, True, True, False]


def test_quick_runs_one_round_unless_told() -> None:
    assert resolve(build_parser().parse_args(["--quick"])).rounds == 1
    assert resolve(build_parser().parse_args(["--quick", "--rounds", "2"])).rounds == 2


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--settings", "gzip"])


def test_each_round_starts_from_the_next_server() -> None:
    servers = [ServerSpec(name, [], ROOT) for name in "ABC"]
    orders = ["".join(s.name for s in rotated(servers, r)) for r in range(4)]
    assert orders == ["ABC", "BCA", "CAB", "ABC"]


def test_this_projects_servers_offer_compress_once() -> None:
    from benchmarks.processes import specs

    offering = [spec.name for spec in specs(include_upstream=False, include_cluster=False)
                if spec.command_for("compress-once") is not None]
    assert offering == ["pondsocket ASGI (pondctl serve)", "pondsocket wsserver"]
    direct = next(s for s in specs(include_upstream=False, include_cluster=False)
                  if s.name == "pondsocket wsserver")
    assert direct.command_for("compress-once")[-1] == "compress-once"


@pytest.mark.timeout(60)
def test_one_tiny_row_against_the_ceiling() -> None:
    command = [sys.executable, "-m", "benchmarks", "--no-upstream", "--no-cluster",
               "--server", "ceiling", "--scenario", "fan-out", "--fanout", "5",
               "--messages", "5", "--sizes", "100", "--rounds", "1",
               "--settings", "off,per-recipient,compress-once"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=50,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "median (min-max)" in out
    assert re.search(r"cpu µs/delivery [\d.,]+ \([\d.,]+-[\d.,]+\)", out), out
    rows = [line for line in out.splitlines() if "fan-out N=5, 100 B" in line]
    assert len(rows) == 3, out  # off, per-recipient, compress-once (one row for all)
    assert "none" in rows[0] and "off" in rows[0]
    assert "deflate" in rows[1] and "per-recipient" in rows[1]  # negotiated, as reported
    assert "not available" in rows[2]
