"""The big-rooms benchmark end to end, tiny: every storm's joins are acknowledged, every
member ends up seeing every other, and the bystanders lose nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_storms_complete_and_the_bystanders_lose_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "benchmarks.bigrooms", "--rows", "sdk:30",
                             "diff:30", "upstream:30", "--rate", "50"],
                            cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    rows = {line.split(":")[0]: line for line in result.stdout.splitlines() if ": " in line}
    assert set(rows) >= {"sdk 30", "diff 30", "upstream 30"}, result.stdout
    for row in ("sdk 30", "diff 30", "upstream 30"):
        assert "joins acked 30," in rows[row] and "all saw N 1," in rows[row], rows[row]
        assert re.search(r"bystander lost 0\b", rows[row]), rows[row]
    assert "diff granted 1," in rows["sdk 30"]
    diff = float(re.search(r"presence B/join/member ([\d.]+)", rows["diff 30"])[1])
    upstream = float(re.search(r"presence B/join/member ([\d.]+)", rows["upstream 30"])[1])
    assert diff < upstream  # 30 members: full lists already cost more than diffs
