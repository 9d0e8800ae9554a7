"""``pondctl load``: run a Locust scenario from ``loadtests/`` headless and summarise it.

Locust (gevent) never runs in this process: the scenario runs in a ``python -m locust``
subprocess that writes CSV statistics into a temporary directory, which this command reads.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

SCENARIOS = ("fanout", "rooms", "presence", "request_reply", "mixed", "sse")
INSTALL_HINT = 'pip install "pondsocket[load]"  (or: pip install "locust>=2.30" websocket-client)'


def scenario_dir() -> Path:
    """Where the locustfiles live: ``$PONDSOCKET_LOADTESTS`` or the checkout's ``loadtests/``."""
    env = os.environ.get("PONDSOCKET_LOADTESTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "loadtests"


def resolve_scenario(name: str) -> Path:
    """A scenario name (``fanout``) or a path to a locustfile."""
    if name.endswith(".py") or os.sep in name:
        path = Path(name)
        if not path.is_file():
            raise click.BadParameter(f"no such locustfile: {name}", param_hint="SCENARIO")
        return path
    directory = scenario_dir()
    available = sorted(p.stem for p in directory.glob("*.py")
                       if p.stem != "pondsocket_user" and not p.stem.startswith("_"))
    path = directory / f"{name.replace('-', '_')}.py"
    if not path.is_file():
        listing = ", ".join(available) if available else f"none found in {directory}"
        raise click.BadParameter(f"unknown scenario {name!r} (available: {listing})",
                                 param_hint="SCENARIO")
    return path


def locust_available() -> bool:
    return (importlib.util.find_spec("locust") is not None
            and importlib.util.find_spec("websocket") is not None)


def read_stats(prefix: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows of ``<prefix>_stats.csv`` (without the Aggregated row) and of
    ``<prefix>_failures.csv``."""
    stats_path = Path(f"{prefix}_stats.csv")
    failures_path = Path(f"{prefix}_failures.csv")
    stats: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    if stats_path.is_file():
        with stats_path.open(newline="") as fh:
            stats = [row for row in csv.DictReader(fh) if row.get("Name") != "Aggregated"]
    if failures_path.is_file():
        with failures_path.open(newline="") as fh:
            failures = list(csv.DictReader(fh))
    return stats, failures


def _int(value: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


def _float(value: str | None) -> float:
    try:
        return float(value or 0)
    except ValueError:
        return 0.0


def summary_table(title: str, stats: list[dict[str, str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for header in ("type", "name", "count", "failures", "rps", "p50 ms", "p99 ms"):
        table.add_column(header, justify="left" if header in ("type", "name") else "right")
    for row in stats:
        failures = _int(row.get("Failure Count"))
        table.add_row(row.get("Type", ""), row.get("Name", ""),
                      str(_int(row.get("Request Count"))),
                      f"[red]{failures}[/]" if failures else "0",
                      f"{_float(row.get('Requests/s')):.1f}",
                      row.get("50%", "N/A"), row.get("99%", "N/A"))
    return table


@click.command(context_settings={"ignore_unknown_options": True,
                                 "help_option_names": ["-h", "--help"]})
@click.argument("scenario")
@click.option("--url", default="ws://127.0.0.1:8765", show_default=True,
              help="Server base URL (Locust --host); the endpoint path is --endpoint.")
@click.option("-u", "--users", default=20, show_default=True, type=click.IntRange(1),
              help="Concurrent users (connections).")
@click.option("-r", "--spawn-rate", default=10.0, show_default=True, type=float,
              help="Users started per second.")
@click.option("-t", "--duration", default="30s", show_default=True,
              help="Run time (Locust syntax: 30s, 2m, 1h30m).")
@click.option("--csv-dir", type=click.Path(file_okay=False), default=None,
              help="Keep Locust's CSV files here (default: a temporary directory).")
@click.option("--show-output", is_flag=True, help="Show Locust's own output.")
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
def load(scenario: str, url: str, users: int, spawn_rate: float, duration: str,
         csv_dir: str | None, show_output: bool, locust_args: tuple[str, ...]) -> None:
    """Run load-test SCENARIO (fanout, rooms, presence, request_reply, mixed, sse, or a locustfile
    path) headless with Locust, then print a summary. Exits 1 when any failure was recorded.

    Arguments after the options go to Locust and the scenario, for example:

    \b
      pondctl load rooms --url ws://127.0.0.1:8765 -u 200 -r 50 -t 1m -- --rooms 20
      pondctl load fanout -u 500 -- --publishers 2 --message-rate 10 --payload-size 500
    """
    console = Console()
    path = resolve_scenario(scenario)
    if not locust_available():
        raise click.ClickException(f"Locust is not installed. Install it with: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="pondctl-load-") as tmp:
        out_dir = (Path(csv_dir) if csv_dir else Path(tmp)).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        prefix = out_dir / path.stem
        command = [sys.executable, "-m", "locust", "-f", str(path), "--headless",
                   "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--host", url,
                   "--csv", str(prefix), "--only-summary", "--exit-code-on-error", "0",
                   *locust_args]
        console.print(f"[dim]running {path.name}: {users} users, spawn rate {spawn_rate}/s, "
                      f"{duration} against {url}[/]", soft_wrap=True)
        result = subprocess.run(command, cwd=str(path.parent), text=True,
                                stdout=None if show_output else subprocess.PIPE,
                                stderr=subprocess.STDOUT, check=False)
        stats, failures = read_stats(prefix)
        if result.returncode != 0 or not stats:
            if not show_output and result.stdout:
                console.print(result.stdout[-4000:], markup=False, highlight=False)
            raise click.ClickException(f"locust exited with status {result.returncode}"
                                       + ("" if stats else " and wrote no statistics"))
        console.print(summary_table(f"{path.stem}: {users} users, {duration}", stats))
        total_failures = sum(_int(row.get("Failure Count")) for row in stats)
        if failures:
            table = Table(title="failures", title_justify="left")
            for header in ("type", "name", "error", "count"):
                table.add_column(header, justify="right" if header == "count" else "left")
            for row in failures:
                table.add_row(row.get("Method", ""), row.get("Name", ""), row.get("Error", ""),
                              row.get("Occurrences", ""))
            console.print(table)
        if csv_dir:
            console.print(f"[dim]CSV files in {out_dir}[/]")
    if total_failures:
        console.print(f"[bold red]{total_failures} failure(s) recorded[/]")
        sys.exit(1)
    console.print("[bold green]no failures[/]")


def register(group: click.Group) -> None:
    """Add ``load`` to the ``pondctl`` group."""
    group.add_command(load)


__all__ = ["SCENARIOS", "load", "read_stats", "register", "resolve_scenario"]
