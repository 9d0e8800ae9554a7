"""How the client commands print frames: coloured, timestamped lines for people, one JSON
object per line for programs."""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pondsocket_tools.client import (
    ConnectionState,
    Message,
    PresenceEvent,
    RecoveryFailure,
    StateChange,
)

from .pipes import PipeAwareConsole

_NAME_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_red", "bright_cyan",
                 "bright_magenta", "bright_green", "bright_blue")


def stdout_console() -> Console:
    return PipeAwareConsole(highlight=False, soft_wrap=True)


def stderr_console() -> Console:
    return PipeAwareConsole(stderr=True, highlight=False, soft_wrap=True)


def clock(at: float | None = None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at if at is not None else time.time()))


def name_style(name: str) -> str:
    return "bold " + _NAME_COLOURS[zlib.crc32(name.encode()) % len(_NAME_COLOURS)]


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def json_line(frame: dict[str, Any]) -> str:
    """One frame as a single line of JSON."""
    return compact(frame)


def name_in(entry: dict[str, Any]) -> str | None:
    """The name a presence entry gives (``name``, ``username``, ``user``, ``id``, ``userId``)."""
    for key in ("name", "username", "user", "id", "userId"):
        value = entry.get(key)
        if isinstance(value, str | int) and value != "":
            return str(value)
    return None


def who(entry: dict[str, Any]) -> str:
    """A presence entry's name, or the entry itself when it has none."""
    return name_in(entry) or (compact(entry) if entry else "someone")


def _stamp(at: float) -> Text:
    return Text(f"[{clock(at)}] ", style="dim")


def format_message(message: Message) -> Text:
    """A chat-style line for a message."""
    line = _stamp(message.received_at)
    payload = message.payload
    if message.is_error:
        error = message.error
        line.append("✗ error ", style="bold red")
        line.append(str(error), style="red")
        return line
    text = payload.get("text")
    sender = payload.get("from") or payload.get("name") or payload.get("user")
    if isinstance(text, str) and isinstance(sender, str) and set(payload) <= {
            "from", "name", "user", "text", "at"}:
        line.append(sender, style=name_style(sender))
        line.append(": ")
        line.append(text)
        return line
    if message.action == "SYSTEM":
        line.append(f"{message.event} ", style="bold yellow")
    else:
        line.append(f"{message.event} ", style="bold")
    line.append(compact(payload), style="dim" if not payload else "")
    return line


def format_presence(event: PresenceEvent) -> Text:
    """A line for a presence change."""
    line = _stamp(event.received_at)
    name = who(event.changed)
    status = event.changed.get("status")
    extra = f" ({status})" if isinstance(status, str) and status else ""
    if event.kind == "JOIN":
        line.append("→ ", style="green")
        line.append(name, style=name_style(name))
        line.append(f" joined{extra}", style="green")
    elif event.kind == "LEAVE":
        line.append("← ", style="red")
        line.append(name, style=name_style(name))
        line.append(" left", style="red")
    else:
        line.append("~ ", style="yellow")
        line.append(name, style=name_style(name))
        line.append(f" updated: {compact(event.changed)}", style="yellow")
    line.append(f"  [{len(event.presence)} here]", style="dim")
    return line


def format_event(item: Message | PresenceEvent) -> Text:
    if isinstance(item, PresenceEvent):
        return format_presence(item)
    return format_message(item)


def presence_table(channel: str, presence: list[dict[str, Any]], *,
                   title: str | None = None) -> Table:
    """The presence list as a table (columns: the union of the entries' keys)."""
    columns: list[str] = []
    for entry in presence:
        for key in entry:
            if key not in columns:
                columns.append(key)
    table = Table(title=title or f"{channel}: {len(presence)} present", title_justify="left")
    for key in columns or ["(empty)"]:
        table.add_column(key)
    for entry in presence:
        table.add_row(*(_cell(entry.get(key)) for key in columns))
    return table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else compact(value)


def status(console: Console, text: str, style: str = "dim") -> None:
    console.print(Text(f"[{clock()}] ", style="dim") + Text(text, style=style))


def recovery_line(failure: RecoveryFailure) -> str:
    """What to tell the user when a rejoin could not recover the missed messages."""
    return (f"could not recover the messages missed on {failure.channel} "
            f"({failure.reason}): some may be missing above")


def state_line(change: StateChange, connects: int) -> tuple[str, str] | None:
    """What to tell the user about a connection state change: ``(text, style)``."""
    if change.state is ConnectionState.DISCONNECTED and change.retry_in is not None:
        what = "connection lost" if change.attempt == 1 else "reconnect failed"
        return (f"{what} ({change.error}); reconnecting in {change.retry_in:.1f}s "
                f"(attempt {change.attempt})", "yellow")
    if change.state is ConnectionState.CONNECTED and connects > 1:
        return "reconnected", "green"
    if change.state is ConnectionState.CLOSED and change.error is not None:
        return f"giving up: {change.error}", "red"
    return None
