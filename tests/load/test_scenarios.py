"""Every load scenario runs briefly against the demo server with zero failures.

Locust runs in a ``pondctl load`` subprocess; the assertions read its CSV statistics.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from .conftest import needs_locust, pondctl_load

pytestmark = needs_locust


def stats_by_type(csv_dir: Path, scenario: str) -> dict[str, dict[str, int]]:
    """Request and failure counts per request type, summed over names."""
    totals: dict[str, dict[str, int]] = {}
    with (csv_dir / f"{scenario}_stats.csv").open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Name"] == "Aggregated":
                continue
            entry = totals.setdefault(row["Type"], {"count": 0, "failures": 0})
            entry["count"] += int(row["Request Count"])
            entry["failures"] += int(row["Failure Count"])
    return totals


def failures(csv_dir: Path, scenario: str) -> list[dict[str, str]]:
    with (csv_dir / f"{scenario}_failures.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


# scenario, users, extra arguments, request types that must have been counted
SCENARIOS = [
    ("fanout", 10, ["--publishers", "2", "--message-rate", "5"], ["connect", "join", "deliver"]),
    ("rooms", 10, ["--rooms", "3", "--message-rate", "4"], ["connect", "join", "deliver"]),
    ("presence", 8, ["--rooms", "2", "--updates", "2"], ["join", "presence", "leave"]),
    ("request_reply", 8, ["--request-rate", "10"], ["join", "request"]),
    ("mixed", 20, ["--rooms", "3", "--message-rate", "3", "--request-rate", "3"],
     ["join", "deliver", "request"]),
    ("sse", 8, ["--publishers", "1", "--message-rate", "5"], ["connect", "join", "deliver"]),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("scenario", "users", "extra", "expected"), SCENARIOS,
                         ids=[s[0] for s in SCENARIOS])
def test_scenario_runs_without_failures(demo_url: str, tmp_path: Path, scenario: str,
                                        users: int, extra: list[str],
                                        expected: list[str]) -> None:
    result = pondctl_load(scenario, "--url", demo_url, "--users", str(users),
                          "--spawn-rate", str(users * 2), "--duration", "4s",
                          "--csv-dir", str(tmp_path), "--", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no failures" in result.stdout
    assert "p99" in result.stdout  # the summary table
    totals = stats_by_type(tmp_path, scenario)
    for request_type in expected:
        assert totals.get(request_type, {}).get("count", 0) > 0, (request_type, totals)
    assert all(entry["failures"] == 0 for entry in totals.values()), totals
    assert failures(tmp_path, scenario) == []


@pytest.mark.timeout(60)
def test_lost_and_duplicated_broadcasts_are_failures(dropping_url: str, tmp_path: Path) -> None:
    result = pondctl_load("rooms", "--url", dropping_url, "--users", "6", "--spawn-rate", "12",
                          "--duration", "4s", "--csv-dir", str(tmp_path), "--",
                          "--rooms", "1", "--message-rate", "5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failure(s) recorded" in result.stdout
    deliver = stats_by_type(tmp_path, "rooms")["deliver"]
    assert deliver["count"] > deliver["failures"] > 0
    errors = " ".join(row["Error"] for row in failures(tmp_path, "rooms"))
    assert "lost: gap in sequence" in errors
    assert "duplicate: sequence repeated" in errors
