"""The history benchmark (``python -m benchmarks.history``) runs end to end and reports
its rows: fan-out with history off and on (one node, and two nodes over a Redis the
benchmark starts, with each process's share there), and the replay of missed broadcasts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_the_quick_history_benchmark_reports_every_row() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.history", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=80,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1 node, in-memory history" in out, out
    assert "2 nodes + Redis (CPU summed), RedisHistoryStore" in out, out
    for label in ("history off:", "history on:", "on/off:"):  # once per fan-out row
        assert len(re.findall(rf"{label}\s+[\d.]+ \([\d.]+-[\d.]+\)", out)) == 2, out
    assert re.search(r"round trip/off: [\d.]+ \(", out), out  # the 2-node control
    for process in ("Redis", r"node 1 \(the publisher's\)", "node 2"):  # the 2-node split
        assert re.search(rf"{process}: off [\d.]+ \([\d.-]+\), on [\d.]+ \([\d.-]+\), "
                         r"round trip [\d.]+ \(", out), out
    assert re.search(r"replay of 50 missed broadcasts .*: [\d.]+ \(", out), out
