"""The history benchmark (``python -m benchmarks.history``) runs end to end and reports
both rows: fan-out with history off and on, and the replay of missed broadcasts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(90)
def test_the_quick_history_benchmark_reports_both_rows() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks.history", "--quick"], cwd=ROOT,
                          capture_output=True, text=True, timeout=80,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for label in ("history off:", "history on:", "on/off:"):
        assert re.search(rf"{label}\s+[\d.]+ \([\d.]+-[\d.]+\)", out), out
    assert re.search(r"replay of 50 missed broadcasts .*: [\d.]+ \(", out), out
