"""Plain formatting helpers of the inspector: times, ids, presence and event lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text

EVENT_STYLES = {"join": "green", "leave": "yellow", "presence": "cyan",
                "broadcast": "magenta", "error": "bold red"}


def clock(timestamp: float | None) -> str:
    """``HH:MM:SS`` in local time, or ``-``."""
    if not timestamp:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def duration(seconds: float) -> str:
    """``1h02m`` or ``3m07s``."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def compact(value: Any) -> str:
    """A presence or payload as ``k=v, k=v`` (dicts) or compact JSON."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return json.dumps(value, separators=(",", ":"), default=str)


def plural(count: int, noun: str) -> str:
    """``1 member``, ``3 members``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def short_id(user_id: str, width: int = 12) -> str:
    """``user_id`` cut to ``width`` characters (an ellipsis marks the cut)."""
    return user_id if len(user_id) <= width else user_id[: width - 1] + "…"


def status_line(overview: dict[str, Any]) -> str:
    """The status bar of a connected inspector: the node (and the cluster's size), uptime,
    sizes and dropped frames."""
    node = f"node {str(overview.get('node_id', '?'))[:8]}"
    nodes = overview.get("nodes") or []
    if len(nodes) > 1:
        down = sum(not n.get("ok") for n in nodes)
        node += f" of {len(nodes)}" + (f" ({down} down)" if down else "")
    counters = overview.get("counters", {})
    return (f"connected · {node} · up {duration(overview.get('uptime_seconds', 0))} · "
            f"{overview.get('connection_count', 0)} conns · "
            f"{overview.get('channel_count', 0)} channels · "
            f"{counters.get('dropped_frames', 0)} dropped")


#: Looks up the presence name of a user id (None when unknown).
NameOf = Callable[[str], "str | None"]


def with_name(user_id: str, name_of: NameOf | None = None) -> str:
    """``user_id``, followed by its presence name when known: ``3b9c0d1e (ada)``."""
    name = name_of(user_id) if name_of is not None else None
    return f"{user_id} ({name})" if name else user_id


def event_detail(doc: dict[str, Any], name_of: NameOf | None = None) -> str:
    """What happened in an event document, after its time, type and channel (user ids
    with their presence names, when ``name_of`` knows them)."""
    kind = doc.get("type")
    user = with_name(str(doc.get("user_id", "?")), name_of)
    if kind in ("join", "leave"):
        detail = f"user {user}"
    elif kind == "presence":
        detail = f"{doc.get('kind', '?')} {compact(doc.get('changed'))}"
    elif kind == "broadcast":
        detail = (f"{doc.get('event', '?')} → {plural(doc.get('recipients', 0), 'recipient')}, "
                  f"{doc.get('size', 0)} B")
    elif kind == "error":
        detail = (f"user {user} {doc.get('event', '?')} "
                  f"{doc.get('code', '?')}: {doc.get('message', '')}")
    else:
        detail = compact({k: v for k, v in doc.items()
                          if k not in ("type", "channel", "endpoint", "time", "node")})
    if doc.get("dropped"):
        detail += f" (dropped {doc['dropped']} before this)"
    return detail


def event_line(doc: dict[str, Any], local_node: str | None = None,
               name_of: NameOf | None = None) -> str:
    """One event as a plain line: time, type, channel, detail; ``@node`` before the detail
    when the event comes from another cluster node than ``local_node`` (when it is known)."""
    stamp = doc.get("time")
    ms = (f".{round((stamp % 1) * 1000) % 1000:03d}" if isinstance(stamp, int | float)
          else "")
    node = doc.get("node")
    origin = f"@{short_id(str(node), 10)} " if local_node and node and node != local_node else ""
    return (f"{clock(stamp)}{ms} {doc.get('type', '?'):<9} {doc.get('channel', '?'):<16} "
            f"{origin}{event_detail(doc, name_of)}")


def event_text(doc: dict[str, Any], local_node: str | None = None,
               name_of: NameOf | None = None) -> Text:
    """:func:`event_line` styled by the event's type."""
    line = event_line(doc, local_node, name_of)
    text = Text(line)
    style = EVENT_STYLES.get(str(doc.get("type")), "")
    start = line.index(" ") + 1
    text.stylize("dim", 0, start)
    text.stylize(style, start, start + 9)
    return text


def user_details(user_id: str, name: str | None, node: str,
                 connection: dict[str, Any] | None, presence: Any = None,
                 channel: str | None = None, joined_at: float | None = None,
                 note: str = "") -> list[tuple[str, str]]:
    """The details of a member or connection as ``(label, value)`` lines: who, where,
    its connection's address, age, channels, queue and frames, and its presence (in
    ``channel`` when it was picked in a channel's members). ``note`` says why the
    connection is missing, when it is."""
    lines = [("user", user_id), ("name", name or "-"), ("node", node)]
    if channel is not None:
        lines.append(("joined", f"{channel} at {clock(joined_at)}" if joined_at
                      else f"{channel} (join time not known)"))
    if connection is None:
        lines.append(("connection", note or "not found"))
    else:
        transport = connection.get("transport", "?")
        channels = connection.get("channels") or []
        lines += [
            ("endpoint", f"{connection.get('endpoint', '?')} ({transport})"),
            ("address", str(connection.get("address") or "not sent by this server")),
            ("age", duration(connection.get("age_seconds", 0))),
            ("channels", ", ".join(channels) if channels else "-"),
            ("queue depth", str(connection.get("queue_depth", 0))),
            ("frames sent", str(connection.get("frames_sent", 0))),
            ("dropped", str(connection.get("dropped_frames", 0))),
        ]
    where = f" in {channel}" if channel is not None else " (last seen)"
    lines.append((f"presence{where}", compact(presence)))
    return lines


def history_details(doc: dict[str, Any], shown: int) -> list[tuple[str, str]]:
    """A channel's history document (``/channels/{name}/history``) as ``(label, value)``
    lines: the stream, then its latest ``shown`` broadcasts, oldest first."""
    entries = doc.get("entries") or []
    lines = [("channel", str(doc.get("channel"))), ("epoch", str(doc.get("epoch"))),
             ("offset", str(doc.get("offset"))),
             ("stored", f"{len(entries)} (the latest {min(shown, len(entries))} below)")]
    for entry in entries[-shown:]:
        body = (json.dumps(entry["payload"], separators=(",", ":"), ensure_ascii=False)
                if "payload" in entry else "(payload not exposed)")
        lines.append((f"#{entry.get('offset')}",
                      f"{clock(entry.get('time'))} {entry.get('event')} {body}"))
    return lines
