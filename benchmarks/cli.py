"""``python -m benchmarks``: options, sizes, and the run (see docs/benchmarks.md).

Every server runs in its own process; this process drives it. Server CPU time and RSS come
from /proc. Each row is the median of ``--rounds`` interleaved rounds with its spread, and
its ratio to the websockets ceiling measured in the same run under the same setting.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from . import cluster, settings, storms
from .processes import specs
from .report import print_comparisons, print_table
from .rounds import run
from .scenarios import comparisons, scenarios

T = TypeVar("T")

# The issue-#15 rows: SDK-kind (presence-diff) storms of 1,000 and 5,000, whose ratio is
# the growth of CPU per join, and one of upstream-protocol members.
BIG_ROOMS = [("diff", 1000), ("diff", 5000), ("upstream", 1000)]
BIG_ROOMS_QUICK = [("diff", 100), ("diff", 500), ("upstream", 100)]


def _list_of(convert: Callable[[str], T]) -> Callable[[str], list[T]]:
    def parse(text: str) -> list[T]:
        return [convert(part) for part in text.split(",") if part.strip()]
    parse.__name__ = f"comma-separated {convert.__name__}"  # argparse names it in errors
    return parse


def _storm(text: str) -> tuple[str, int]:
    kind, _, n = text.strip().partition(":")
    if kind not in storms.KINDS or not n.isdigit() or int(n) < 1:
        raise ValueError(text)
    return kind, int(n)


_storm.__name__ = "KIND:N storm"  # argparse names it in errors


def build_parser() -> argparse.ArgumentParser:
    """The command line; sizes left as None are filled in by :func:`resolve`."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and 1 round, for a smoke run")
    parser.add_argument("--rounds", type=int, default=None,
                        help="interleaved rounds; each row reports the median (default 3, "
                             "--quick 1)")
    parser.add_argument("--no-upstream", action="store_true",
                        help="skip upstream pondsocket (no PyPI access needed)")
    parser.add_argument("--no-cluster", action="store_true",
                        help="skip the 2-node + Redis fan-out row")
    parser.add_argument("--scenario", action="append",
                        help="run only scenarios whose name contains this (repeatable); "
                             "'cluster' runs the cluster scale-out table")
    parser.add_argument("--server", action="append",
                        help="run only servers whose name contains this (repeatable); the "
                             "ceiling always runs: every ratio needs it")
    parser.add_argument("--fanout", type=_list_of(int), default=None,
                        help="fan-out subscriber counts (default 1000, --quick 100)")
    parser.add_argument("--sizes", type=_list_of(int), default=[100, 2048, 16384],
                        help="fan-out payload sizes in bytes (default 100,2048,16384)")
    parser.add_argument("--messages", type=int, default=None,
                        help="fan-out messages per row up to 1 KB, fewer above "
                             "(default 100, --quick 20)")
    parser.add_argument("--settings", type=settings.parse_settings,
                        default=[settings.SETTINGS[n] for n in settings.FANOUT_DEFAULT],
                        help="compression settings of the fan-out rows (default "
                             f"{','.join(settings.FANOUT_DEFAULT)})")
    parser.add_argument("--big-rooms", type=_list_of(_storm), default=None,
                        help="the big-rooms presence storms as KIND:N, KIND one of "
                             f"{', '.join(storms.KINDS)} (default "
                             f"{','.join(f'{k}:{n}' for k, n in BIG_ROOMS)}, --quick "
                             f"{','.join(f'{k}:{n}' for k, n in BIG_ROOMS_QUICK)})")
    parser.add_argument("--other-settings", type=settings.parse_settings,
                        default=[settings.SETTINGS[n] for n in settings.OTHER_DEFAULT],
                        help="compression settings of the other scenarios (default "
                             f"{','.join(settings.OTHER_DEFAULT)})")
    return parser


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    """Fill in the sizes the options left open, full or ``--quick``."""
    full = not args.quick
    if args.rounds is None:
        args.rounds = 3 if full else 1
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    if args.fanout is None:
        args.fanout = [1000] if full else [100]
    if args.messages is None:
        args.messages = 100 if full else 20
    args.size = 100  # payload bytes of the many-channels scenario
    args.rooms = 1000 if full else 50
    if args.big_rooms is None:
        args.big_rooms = BIG_ROOMS if full else BIG_ROOMS_QUICK
    args.idle = 5000 if full else 200
    args.requests = 2000 if full else 200
    args.slow_n = 100 if full else 20
    # Enough bytes (5 MB) for a reader that stopped to fill its socket buffers (the kernel
    # takes about 4 MB), so that the server itself has to hold or shed what it cannot send.
    args.slow_messages = 2500 if full else 300
    args.slow_rate = 500.0
    args.slow_size = 2000
    return args


def main(argv: Sequence[str] | None = None) -> None:
    """Parse ``argv``, run every round, print the table and the run's duration."""
    args = resolve(build_parser().parse_args(argv))
    if args.scenario and "cluster" in args.scenario:  # its own table (benchmarks/cluster.py)
        cluster.main(args.rounds)
        args.scenario = [s for s in args.scenario if s != "cluster"]
        if not args.scenario:
            return
    chosen = scenarios(args)
    if args.scenario:
        chosen = [s for s in chosen if any(part in s.name for part in args.scenario)]
    # upstream has no rows in the presence scenarios: not installed for those alone
    upstream = not args.no_upstream and any(not s.presence for s in chosen)
    servers = specs(include_upstream=upstream, include_cluster=not args.no_cluster)
    ceiling_name = servers[0].name
    if args.server:  # the ceiling stays: every ratio needs it
        servers = [s for i, s in enumerate(servers)
                   if i == 0 or any(part in s.name for part in args.server)]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    started = time.perf_counter()
    results = asyncio.run(run(args, chosen, servers))
    print_table(results, args.rounds, ceiling_name)
    print_comparisons(results, comparisons(args))
    print(f"run took {time.perf_counter() - started:.0f} s", file=sys.stderr)
