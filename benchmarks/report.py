"""The results table: per row the median over the rounds, its spread, and its ratio to the
ceiling's median under the same setting in the same run."""

from __future__ import annotations

from .rounds import Result
from .scenarios import Comparison


def _number(value: float) -> str:
    return f"{value:,.1f}" if abs(value) >= 1 else f"{value:.2f}"


def figures(result: Result) -> str:
    """``metric median (min-max)`` lines, or why there are none."""
    if result.note:
        return result.note
    medians, spreads = result.medians(), result.spreads()
    lines = [f"{metric} {_number(value)} ({_number(spreads[metric][0])}-"
             f"{_number(spreads[metric][1])})" for metric, value in medians.items()]
    if result.failures:
        lines.append(f"failed {len(result.failures)}/{len(result.failures) + len(result.samples)}"
                     f": {result.failures[0][:80]}")
    return "\n".join(lines) or "n/a (not measured for this server)"


def ratios(result: Result, ceiling: Result | None) -> str:
    """``metric 1.10x`` lines: this row's median over the ceiling's median."""
    if ceiling is None or ceiling is result or result.note or ceiling.note:
        return ""
    base = ceiling.medians()
    # one line per metric, blank where the ceiling has none, to line up with the figures
    return "\n".join(f"{metric} {value / base[metric]:.2f}x" if base.get(metric) else ""
                     for metric, value in result.medians().items()).rstrip("\n")


def _unavailable_everywhere(results: list[Result]) -> set[tuple[str, str]]:
    """(label, setting) pairs that no server could run."""
    by_key: dict[tuple[str, str], list[Result]] = {}
    for result in results:
        by_key.setdefault((result.label, result.setting), []).append(result)
    return {key for key, rows in by_key.items() if all(r.note for r in rows)}


def print_table(results: list[Result], rounds: int, ceiling_name: str) -> None:
    """Print the table, grouped by row label and setting, wide enough not to wrap."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"PondSocket benchmarks: median (min-max) of {rounds} interleaved "
                        f"round(s); ratio = median / {ceiling_name} median, same setting",
                  show_lines=True)
    for column in ("scenario", "setting", "server", "negotiated", "median (min-max)",
                   "vs ceiling"):
        table.add_column(column)
    ceilings = {(r.label, r.setting): r for r in results if r.server == ceiling_name}
    unavailable = _unavailable_everywhere(results)
    shown: set[tuple[str, str]] = set()
    for result in results:
        key = (result.label, result.setting)
        if key in unavailable:  # one row says it for every server
            if key not in shown:
                shown.add(key)
                table.add_row(result.label, result.setting, "every server", "",
                              f"{result.note}: no server offers it yet", "")
            continue
        table.add_row(result.label, result.setting, result.server,
                      ", ".join(sorted(result.negotiated)), figures(result),
                      ratios(result, ceilings.get((result.label, result.setting))))
    Console(width=200).print(table)


def print_comparisons(results: list[Result], comparisons: list[Comparison]) -> None:
    """Print each comparison's ratio of medians, per server and setting that measured both
    rows (nothing when no comparison has both)."""
    from rich.console import Console
    from rich.table import Table

    rows = {(r.label, r.setting, r.server): r for r in results if r.samples}
    table = Table(title="Ratios between rows: median / median, same server and setting",
                  show_lines=True)
    for column in ("rows", "setting", "server", "ratio"):
        table.add_column(column)
    for comparison in comparisons:
        for (label, setting, server), over in rows.items():
            under = rows.get((comparison.under, setting, server))
            if label != comparison.over or under is None:
                continue
            top, bottom = over.medians(), under.medians()
            table.add_row(f"{comparison.over} / {comparison.under}", setting, server,
                          "\n".join(f"{metric} {top[metric] / bottom[metric]:.2f}x"
                                    for metric in comparison.metrics
                                    if top.get(metric) and bottom.get(metric)))
    if table.row_count:
        Console(width=200).print(table)
