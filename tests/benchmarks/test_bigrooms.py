"""The big-rooms rows of ``python -m benchmarks``, tiny, end to end: every storm completes
(each join acknowledged, each member seeing all N, else the row fails), the bystanders lose
nothing, diffs cost fewer bytes than upstream lists, and the growth ratio is printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.cli import BIG_ROOMS, build_parser, resolve
from benchmarks.processes import specs
from benchmarks.rounds import plan
from benchmarks.scenarios import scenarios

ROOT = Path(__file__).resolve().parents[2]


def blocks(table: str) -> dict[str, str]:
    """The rich table's rows by their first cell: each row's lines, joined."""
    out: dict[str, str] = {}
    for block in re.split(r"^[├└┡].*$", table, flags=re.MULTILINE):
        lines = [line for line in block.splitlines() if line.startswith("│")]
        if lines:
            first = lines[0].split("│")
            out[f"{first[1].strip()} @ {first[3].strip()}"] = "\n".join(lines)
    return out


def test_the_issue_rows_are_the_default_and_run_only_where_presence_is() -> None:
    args = resolve(build_parser().parse_args([]))
    assert args.big_rooms == BIG_ROOMS == [("diff", 1000), ("diff", 5000), ("upstream", 1000)]
    chosen = [s for s in scenarios(args) if s.name.startswith("big rooms")]
    steps = plan(chosen, specs(include_upstream=False), args.settings, args.other_settings)
    assert [s.name for s, _, _ in steps] == ["big rooms diff 1000", "big rooms diff 5000",
                                             "big rooms upstream 1000"]
    for _, setting, servers in steps:  # no ceiling (it has no presence), no cluster
        assert setting.name == "off"
        assert [s.name for s in servers] == ["pondsocket ASGI (pondctl serve)",
                                             "pondsocket wsserver"]


def test_an_unknown_kind_of_storm_is_refused_and_none_skips_them() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--big-rooms", "raw:100"])
    args = resolve(build_parser().parse_args(["--big-rooms", ""]))
    assert not [s for s in scenarios(args) if s.presence]


@pytest.mark.timeout(150)
def test_tiny_storms_complete_and_the_bystanders_lose_nothing() -> None:
    command = [sys.executable, "-m", "benchmarks", "--scenario", "big rooms", "--server",
               "wsserver", "--rounds", "1", "--big-rooms", "diff:20,diff:40,upstream:40,sdk:20"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=140,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    assert "FAILED" not in done.stderr, done.stderr
    rows = blocks(done.stdout)
    server = "pondsocket wsserver"
    for kind in ("diff 20", "diff 40", "upstream 40", "sdk 20"):
        row = rows[f"big rooms {kind} @ {server}"]
        assert re.search(r"cpu ms/join [\d.]+ \(", row), row
        assert re.search(r"bystander lost 0\.00 \(", row), row
        assert re.search(r"bystander p99 ms [\d.]+ \(", row), row

    def presence_bytes(kind: str) -> float:
        row = rows[f"big rooms {kind} @ {server}"]
        return float(re.search(r"presence B/join/member ([\d.]+)", row)[1])

    # 40 members: the whole list on every join already costs more than the diffs
    assert presence_bytes("diff 40") < presence_bytes("upstream 40")
    ratio = rows[f"big rooms diff 40 / big rooms diff 20 @ {server}"]
    assert re.search(r"cpu ms/join [\d.]+x", ratio), ratio
    assert re.search(r"presence B/join/member [\d.]+x", ratio), ratio
