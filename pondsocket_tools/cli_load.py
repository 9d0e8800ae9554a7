"""``pondctl load``: run a Locust scenario from ``loadtests/`` headless and summarise it.

Locust (gevent) never runs in this process: the scenario runs in a ``python -m locust``
subprocess that writes CSV statistics into a temporary directory, which this command reads.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import click
from rich.table import Table

from .cli_client.pipes import PipeAwareConsole

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


_DURATION = re.compile(r"^(\d+(\.\d+)?[hms])+$")  # 30s, 2m, 1h30m


def _check_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss", "http", "https") or not parts.netloc:
        hint = (" -u is the URL, as in every pondctl command: the number of users is "
                "-c/--users" if value.isdigit() else "")
        raise click.BadParameter(f"{value!r} is not a ws://, wss://, http:// or https:// URL."
                                 + hint, ctx=ctx, param=param)
    if parts.query or parts.fragment:
        raise click.BadParameter(f"{value!r}: give the token with -t/--token, not in the URL",
                                 ctx=ctx, param=param)
    return value


def _check_token(ctx: click.Context, param: click.Parameter, value: str | None
                 ) -> str | None:
    if value is not None and _DURATION.match(value):
        raise click.BadParameter(
            f"{value!r} looks like a run time: -t is the token, as in every pondctl command; "
            "the run time is -d/--duration (to send this token anyway: -- --token "
            f"{value})", ctx=ctx, param=param)
    return value


_RUN_TIME = re.compile(r"^(\d+|(\d+h)?(\d+m)?(\d+s)?)$")  # what Locust's --run-time takes


def _check_duration(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value or not _RUN_TIME.match(value):
        raise click.BadParameter(f"{value!r} is not a run time: give seconds or hours, minutes "
                                 "and seconds such as 30s, 2m, 1h30m", ctx=ctx, param=param)
    return value


def split_url(url: str) -> tuple[str, str | None]:
    """Locust's ``--host`` and the scenarios' ``--endpoint`` from an endpoint URL
    (``ws://host:8765/api/socket``); no path keeps the scenarios' endpoint."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}", path or None


def last_value(args: tuple[str, ...] | list[str], names: tuple[str, ...]) -> str | None:
    """The value of the last of ``names`` in Locust arguments (``-u 5``, ``--users=5``)."""
    found: str | None = None
    for index, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in names:
            if eq:
                found = value
            elif index + 1 < len(args):
                found = args[index + 1]
    return found


def locust_command(path: Path, *, url: str, token: str | None, users: int,
                   spawn_rate: float, duration: str, prefix: Path,
                   locust_args: tuple[str, ...] | list[str]) -> list[str]:
    """The ``python -m locust`` command line; ``locust_args`` come last, so Locust's own
    options given there (``-u``, ``-t``, ...) win over this command's."""
    host, endpoint = split_url(url)
    command = [sys.executable, "-m", "locust", "-f", str(path), "--headless",
               "-u", str(users), "-r", str(spawn_rate), "-t", duration, "--host", host,
               "--csv", str(prefix), "--only-summary", "--exit-code-on-error", "0"]
    if endpoint:
        command += ["--endpoint", endpoint]
    if token is not None:
        command += ["--token", token]
    return command + list(locust_args)


@click.command(context_settings={"ignore_unknown_options": True,
                                 "help_option_names": ["-h", "--help"]})
@click.argument("scenario")
@click.option("-u", "--url", default="ws://127.0.0.1:8765/api/socket", show_default=True,
              envvar="PONDCTL_URL", show_envvar=True, callback=_check_url, metavar="URL",
              help="The endpoint: Locust's --host is its scheme and address, the scenarios' "
                   "--endpoint its path (none: /api/socket).")
@click.option("-t", "--token", envvar="PONDCTL_TOKEN", show_envvar=True,
              callback=_check_token,
              help="Sent as ?token= by every user (the scenarios' --token). [default: demo]")
@click.option("-c", "--users", default=20, show_default=True, type=click.IntRange(1),
              metavar="N", help="Concurrent users (connections).")
@click.option("-r", "--spawn-rate", default=10.0, show_default=True,
              type=click.FloatRange(min=0, min_open=True), metavar="PER_SECOND",
              help="Users started per second.")
@click.option("-d", "--duration", default="30s", show_default=True, metavar="TIME",
              callback=_check_duration, help="Run time (Locust syntax: 30s, 2m, 1h30m).")
@click.option("--csv-dir", type=click.Path(file_okay=False), default=None,
              help="Keep Locust's CSV files here (default: a temporary directory).")
@click.option("--show-output", is_flag=True, help="Show Locust's own output.")
@click.argument("locust_args", nargs=-1, type=click.UNPROCESSED)
def load(scenario: str, url: str, token: str | None, users: int, spawn_rate: float,
         duration: str, csv_dir: str | None, show_output: bool,
         locust_args: tuple[str, ...]) -> None:
    """Run load-test SCENARIO (fanout, rooms, presence, request_reply, mixed, sse, or a locustfile
    path) headless with Locust, then print a summary. Exits 1 when any failure was recorded.

    -u/--url and -t/--token mean what they mean in every pondctl command. Arguments after
    -- go to Locust and the scenario; Locust's own names work there too (-u, -t, ...) and
    win over the options before --. For example:

    \b
      pondctl load rooms -u ws://127.0.0.1:8765/api/socket -c 200 -r 50 -d 1m -- --rooms 20
      pondctl load fanout -c 500 -- --publishers 2 --message-rate 10 --payload-size 500
      pondctl load rooms -- -u 50 -t 10s              # Locust's own -u/-t after --
    """
    console = PipeAwareConsole()
    path = resolve_scenario(scenario)
    if not locust_available():
        raise click.ClickException(f"Locust is not installed. Install it with: {INSTALL_HINT}")
    # What Locust will really run (its options after -- win), for the summary.
    users_shown = last_value(locust_args, ("-u", "--users")) or str(users)
    duration_shown = last_value(locust_args, ("-t", "--run-time")) or duration
    spawn_shown = last_value(locust_args, ("-r", "--spawn-rate")) or str(spawn_rate)
    with tempfile.TemporaryDirectory(prefix="pondctl-load-") as tmp:
        out_dir = (Path(csv_dir) if csv_dir else Path(tmp)).resolve()
        out_dir.mkdir(parents=True, exist_ok=True)
        prefix = out_dir / path.stem
        command = locust_command(path, url=url, token=token, users=users,
                                 spawn_rate=spawn_rate, duration=duration, prefix=prefix,
                                 locust_args=locust_args)
        console.print(f"[dim]running {path.name}: {users_shown} users, spawn rate "
                      f"{spawn_shown}/s, {duration_shown} against {url}[/]", soft_wrap=True)
        result = subprocess.run(command, cwd=str(path.parent), text=True,
                                stdout=None if show_output else subprocess.PIPE,
                                stderr=subprocess.STDOUT, check=False)
        stats, failures = read_stats(prefix)
        if result.returncode != 0 or not stats:
            if not show_output and result.stdout:
                console.print(result.stdout[-4000:], markup=False, highlight=False)
            raise click.ClickException(f"locust exited with status {result.returncode}"
                                       + ("" if stats else " and wrote no statistics"))
        console.print(summary_table(f"{path.stem}: {users_shown} users, {duration_shown}",
                                    stats))
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


__all__ = ["SCENARIOS", "last_value", "load", "locust_command", "read_stats", "register",
           "resolve_scenario", "split_url"]
