"""The inspector's formatting helpers and its help screen."""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

EVENT_STYLES = {"join": "green", "leave": "yellow", "presence": "cyan",
                "broadcast": "magenta", "error": "bold red"}

HELP = """\
[b]pondctl inspect[/b]: a live view of a PondSocket server's admin API.

[b]Keys[/b]
  [cyan]↑ ↓ enter[/]   pick a channel in the tree: its members and presence show
  [cyan]/[/]           filter the event tail by type, channel or text
  [cyan]escape[/]      leave the filter input
  [cyan]p[/]           pause / resume the event tail (events are still collected)
  [cyan]c[/]           clear the event tail
  [cyan]r[/]           refresh now
  [cyan]?[/]           this help
  [cyan]q[/]           quit

[b]Panels[/b]
  Left: endpoints and their live channels with member counts (polled every second).
  Top: connection state, node, sizes and message rates (sparkline: channel broadcasts/s).
  Middle: the selected channel's members with their presence.
  Bottom: the live event stream (/events): joins, leaves, presence, broadcasts, errors.

Press [cyan]escape[/] or [cyan]?[/] to close."""


def clock(timestamp: float | None) -> str:
    """``HH:MM:SS`` in local time, or ``-``."""
    if not timestamp:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def compact(value: Any) -> str:
    """A presence or payload as ``k=v, k=v`` (dicts) or compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return json.dumps(value, separators=(",", ":"), default=str)


def short_id(user_id: str, width: int = 12) -> str:
    return user_id if len(user_id) <= width else user_id[: width - 1] + "…"


def event_detail(doc: dict[str, Any]) -> str:
    kind = doc.get("type")
    if kind in ("join", "leave"):
        detail = f"user {doc.get('user_id', '?')}"
    elif kind == "presence":
        detail = f"{doc.get('kind', '?')} {compact(doc.get('changed'))}"
    elif kind == "broadcast":
        detail = (f"{doc.get('event', '?')} → {doc.get('recipients', 0)} recipients, "
                  f"{doc.get('size', 0)} B")
    elif kind == "error":
        detail = (f"user {doc.get('user_id', '?')} {doc.get('event', '?')} "
                  f"{doc.get('code', '?')}: {doc.get('message', '')}")
    else:
        detail = compact({k: v for k, v in doc.items()
                          if k not in ("type", "channel", "endpoint", "time")})
    if doc.get("dropped"):
        detail += f" (dropped {doc['dropped']} before this)"
    return detail


def event_line(doc: dict[str, Any]) -> str:
    """One event as a plain line: time, type, channel, detail."""
    stamp = doc.get("time")
    ms = (f".{round((stamp % 1) * 1000) % 1000:03d}" if isinstance(stamp, int | float)
          else "")
    return (f"{clock(stamp)}{ms} {doc.get('type', '?'):<9} {doc.get('channel', '?'):<16} "
            f"{event_detail(doc)}")


def event_text(doc: dict[str, Any]) -> Text:
    """:func:`event_line` styled by the event's type."""
    line = event_line(doc)
    text = Text(line)
    style = EVENT_STYLES.get(str(doc.get("type")), "")
    start = line.index(" ") + 1
    text.stylize("dim", 0, start)
    text.stylize(style, start, start + 9)
    return text


class HelpScreen(ModalScreen[None]):
    """The key bindings and what the panels show."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 96; height: auto; max-height: 90%; border: round $accent;
        background: $surface; padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(HELP, id="help-text")
