"""The inspector's panels, each fed whole admin documents: the tree of endpoints and
channels, the rates with their sparklines, the selected channel with its members, the
connections and the cluster nodes."""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static, Tree
from textual.widgets.tree import TreeNode

from .formatting import clock, compact, duration, plural, short_id
from .names import NameBook
from .tables import Column, Row, Sort, TableView

ChannelKey = tuple[str, str]  # (endpoint, channel name)

#: The overview counters that have rates (the server's ``rates`` has the same keys).
RATE_KEYS = ("messages_received", "messages_broadcast", "frames_delivered",
             "connections_opened")


class CounterRates:
    """Per-second rates from the growth of counters over the last ``window`` polls, for
    servers whose overview has no ``rates`` (averaging keeps it from flickering to zero
    between bursts)."""

    def __init__(self, window: int = 5) -> None:
        self._samples: deque[tuple[float, dict[str, int]]] = deque(maxlen=window + 1)

    def update(self, now: float, counters: dict[str, int]) -> dict[str, float] | None:
        """Add the counters polled at monotonic ``now``; the rates, or None before two
        polls."""
        samples = self._samples
        if samples and any(counters.get(k, 0) < samples[-1][1].get(k, 0) for k in RATE_KEYS):
            samples.clear()  # the server restarted: its counters start again from zero
        samples.append((now, counters))
        (start, first), (end, last) = samples[0], samples[-1]
        if end <= start:
            return None
        return {k: max(0, last.get(k, 0) - first.get(k, 0)) / (end - start) for k in RATE_KEYS}


def natural_key(text: str) -> tuple[Any, ...]:
    """A sort key that orders the numbers in ``text`` by value: ``/room/2`` before
    ``/room/10``."""
    return tuple(int(part) if part.isdigit() else part.lower()
                 for part in re.split(r"(\d+)", text))


class ChannelTree(Tree[Any]):
    """Each endpoint with its connection count, and under it its live channels with their
    member counts (``[3]``, or ``[3+2]`` with members on other nodes). A node's data is
    ``("endpoint", path)`` or ``("channel", endpoint, name)``.

    Endpoints and channels keep one order, by name (numbers by value), whatever order the
    server lists them in and whenever they appear: a new channel is inserted in its place,
    so the rows under the cursor do not move about between polls."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("server", **kwargs)
        self.show_root = False
        self.root.expand()
        self.endpoint_nodes: dict[str, TreeNode[Any]] = {}
        self.channel_nodes: dict[ChannelKey, TreeNode[Any]] = {}

    def show(self, endpoints: list[dict[str, Any]], channels: list[dict[str, Any]],
             selected: ChannelKey | None) -> None:
        """Show the ``/endpoints`` and ``/channels`` lists, ``selected`` highlighted."""
        by_path = {e["path"]: e for e in endpoints}
        by_key = {(c["endpoint"], c["name"]): c for c in channels}
        paths = sorted(by_path.keys() | {key[0] for key in by_key}, key=natural_key)
        for path in [p for p in self.endpoint_nodes if p not in paths]:
            self.endpoint_nodes.pop(path).remove()
        for key in [k for k in self.channel_nodes if k not in by_key]:
            self.channel_nodes.pop(key).remove()
        for index, path in enumerate(paths):
            label = Text.assemble((path, "bold"), (
                f"  {by_path.get(path, {}).get('connection_count', 0)} conn", "dim"))
            node = self.endpoint_nodes.get(path)
            if node is None:
                self.endpoint_nodes[path] = self.root.add(
                    label, data=("endpoint", path), expand=True,
                    before=index if index < len(self.root.children) else None)
            else:
                node.set_label(label)
        for key in sorted(by_key, key=lambda k: (natural_key(k[0]), natural_key(k[1]))):
            doc = by_key[key]
            remote = doc.get("remote_member_count", 0)
            count = f"{doc['member_count']}" + (f"+{remote}" if remote else "")
            label = Text.assemble(key[1], (f"  [{count}]", "green"))
            if key == selected:
                label.stylize("reverse", 0, len(key[1]))
            node = self.channel_nodes.get(key)
            if node is None:
                parent = self.endpoint_nodes[key[0]]
                self.channel_nodes[key] = parent.add_leaf(
                    label, data=("channel", *key), before=self._place(parent, key))
            else:
                node.set_label(label)

    def _place(self, parent: TreeNode[Any], key: ChannelKey) -> int | None:
        """The index under ``parent`` where channel ``key`` belongs (None: at the end)."""
        for index, child in enumerate(parent.children):
            if child.data is not None and natural_key(child.data[2]) > natural_key(key[1]):
                return index
        return None


class RatesPanel(Horizontal):
    """Message rates as numbers, and sparklines of broadcasts/s and frames delivered/s."""

    DEFAULT_CSS = """
    RatesPanel { height: 3; padding: 0 1; }
    RatesPanel #rates-label { width: 22; }
    RatesPanel > Vertical { width: 1fr; padding-right: 1; }
    RatesPanel .caption { height: 1; color: $text-muted; }
    RatesPanel Sparkline { height: 2; }
    RatesPanel #frame-rates > .sparkline--max-color { color: $accent; }
    """

    def __init__(self, samples: int = 60, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.broadcasts: deque[float] = deque(maxlen=samples)
        self.frames: deque[float] = deque(maxlen=samples)
        self.text = "- msg/s"

    def compose(self) -> ComposeResult:
        yield Static(self.text, id="rates-label")
        with Vertical():
            yield Static("broadcasts/s", id="rates-caption", classes="caption")
            yield Sparkline([], id="rates")
        with Vertical():
            yield Static("frames delivered/s", id="frame-rates-caption", classes="caption")
            yield Sparkline([], id="frame-rates")

    def push(self, broadcast: float, received: float, frames: float) -> None:
        """Add one sample of each rate (per second)."""
        self.broadcasts.append(broadcast)
        self.frames.append(frames)
        self.text = (f"{broadcast:7.1f} msg/s out\n{received:7.1f} msg/s in\n"
                     f"{frames:7.1f} frames/s")
        self.query_one("#rates-label", Static).update(self.text)
        self.query_one("#rates-caption", Static).update(
            f"broadcasts/s · peak {max(self.broadcasts):.1f}")
        self.query_one("#frame-rates-caption", Static).update(
            f"frames delivered/s · peak {max(self.frames):.1f}")
        self.query_one("#rates", Sparkline).data = list(self.broadcasts)
        self.query_one("#frame-rates", Sparkline).data = list(self.frames)


class ChannelView(TableView):
    """The selected channel: its counters and rates, and its members with their presence
    (by join time at first; members of other nodes, whose join time is not known, last)."""

    COLUMNS = (Column("user"), Column("node"), Column("presence"), Column("joined"))
    TABLE_ID = "members"
    NOUN = "member"
    DEFAULT_SORT = Sort(3, descending=False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members: dict[str, dict[str, Any]] = {}

    def show(self, selected: ChannelKey | None, doc: dict[str, Any] | None) -> None:
        """Show channel ``doc`` (None: ``selected`` is loading, closed or unset)."""
        if doc is None:
            self.set_title("no channel selected (pick one in the tree)" if selected is None
                           else f"{selected[1]}: closed")
            self.members = {}
            self.fill([])
            return
        title = channel_title(doc)
        members = doc.get("members", [])
        total = doc.get("members_total", len(members))
        if len(members) < total:  # a page of a big channel: ] and [ turn the pages
            first = doc.get("offset", 0) + 1
            title.append(f" · members {first}-{first + len(members) - 1} of {total} "
                         "(] next, [ previous)", "yellow")
        self.set_title(title)
        self.members = {m["user_id"]: m for m in members}
        self.fill(_member_row(m) for m in members)

    def selected_member(self) -> dict[str, Any] | None:
        """The member under the cursor."""
        key = self.selected_key()
        return self.members.get(key) if key is not None else None


def _member_row(member: dict[str, Any]) -> Row:
    uid, node = member["user_id"], str(member["node"])
    presence = compact(member.get("presence"))
    return Row(uid, [short_id(uid, 14), short_id(node, 10), presence,
                     clock(member.get("joined_at"))],
               [uid, node, presence, member.get("joined_at")],
               " ".join((uid, node, presence)))


def channel_title(doc: dict[str, Any]) -> Text:
    """Two lines: name, pattern, members and nodes; counters, and rates when known."""
    remote = doc.get("remote_member_count", 0)
    nodes = doc.get("node_ids") or []
    title = Text.assemble(
        (doc["name"], "bold"), f" · {doc['pattern']} · ",
        (plural(doc["member_count"], "member"), "green"), (f" +{remote} remote" if remote else ""),
        (f" · on {len(nodes)} nodes" if len(nodes) > 1 else ""),
        f"\n{doc['messages_received']} in · {doc['messages_broadcast']} out · "
        f"{doc['frames_delivered']} frames")
    rates = doc.get("rates") or {}
    if isinstance(rates.get("messages_broadcast"), int | float):
        title.append(f" · {rates['messages_broadcast']:.1f} msg/s out", "magenta")
    if isinstance(rates.get("frames_delivered"), int | float):
        title.append(f" · {rates['frames_delivered']:.1f} frames/s")
    return title


class ConnectionsView(TableView):
    """Every connection: its presence name (when a channel document showed it), node,
    endpoint and transport, channels, queue and delivery counters. Oldest first at first;
    rows that drop frames are red, those with a queue yellow."""

    COLUMNS = (Column("user"), Column("name"), Column("node"), Column("endpoint"),
               Column("channels"), Column("queue", True), Column("sent", True),
               Column("drop", True), Column("age", True))
    TABLE_ID = "connections-table"
    NOUN = "connection"
    DEFAULT_SORT = Sort(8, descending=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connections: dict[str, dict[str, Any]] = {}

    @property
    def server_sort(self) -> str:
        """The admin API's ``sort`` that cuts the list where this view's sort does (the
        largest queue, drops or frames sent; else the oldest)."""
        label = self.COLUMNS[self.sort.column].label if self.sort is not None else "age"
        return SERVER_SORTS.get(label, "age")

    def show(self, docs: list[dict[str, Any]], names: NameBook | None = None,
             total: int | None = None) -> None:
        """Show the ``connections`` list of ``/connections`` (with the presence names of
        ``names``), the first ``len(docs)`` of ``total`` when the server cut the list."""
        names = names or NameBook()
        queued = sum(c.get("queue_depth", 0) for c in docs)
        dropped = sum(c.get("dropped_frames", 0) for c in docs)
        count = (f"first {len(docs)} of {plural(total, 'connection')} by "
                 f"{SORT_NAMES[self.server_sort]}"
                 if total is not None and total > len(docs)
                 else plural(len(docs), "connection"))
        self.set_title(Text.assemble(
            (count, "bold"), f" · {queued} frames queued · ",
            (f"{dropped} dropped", "red" if dropped else "")))
        self.connections = {connection_key(c): c for c in docs}
        self.fill(_connection_row(c, names.name(c["user_id"])) for c in docs)

    def selected_connection(self) -> dict[str, Any] | None:
        """The connection under the cursor."""
        key = self.selected_key()
        return self.connections.get(key) if key is not None else None


def connection_key(doc: dict[str, Any]) -> str:
    """A connection's row key: ``node:user_id``."""
    return f"{doc.get('node', 'local')}:{doc['user_id']}"


#: The admin API's ``sort`` of the connection columns it can sort by, and their names.
SERVER_SORTS = {"age": "age", "queue": "queue_depth", "drop": "dropped_frames",
                "sent": "frames_sent"}
SORT_NAMES = {"age": "age", "queue_depth": "queue depth", "dropped_frames": "dropped frames",
              "frames_sent": "frames sent"}


TRANSPORTS = {"websocket": "ws", "memory": "mem"}


def _connection_row(doc: dict[str, Any], name: str | None) -> Row:
    style = ("red" if doc.get("dropped_frames") else
             "yellow" if doc.get("queue_depth") else "")
    transport = str(doc.get("transport", "?"))
    channels = doc.get("channels", [])
    uid, node = doc["user_id"], str(doc.get("node", "local"))
    endpoint = f"{doc.get('endpoint', '?')} ({TRANSPORTS.get(transport, transport)})"
    listed = f"{len(channels)}: {', '.join(channels)}" if channels else "-"
    counts = [doc.get("queue_depth", 0), doc.get("frames_sent", 0),
              doc.get("dropped_frames", 0)]
    age = doc.get("age_seconds", 0)
    cells = [short_id(uid, 10), short_id(name or "-", 10), short_id(node, 9), endpoint,
             short_id(listed, 12), *counts, duration(age)]
    return Row(connection_key(doc), [Text(str(cell), style=style) for cell in cells],
               [uid, name, node, endpoint, listed, *counts, age],
               " ".join((uid, name or "", node, endpoint, listed)))


class NodesView(TableView):
    """The cluster's nodes from the overview: counts, counters with their rates, and
    whether each answered (why not in the title). This node's id is bold; in the
    overview's order (this node first) until sorted."""

    COLUMNS = (Column("node"), Column("state"), Column("up", True), Column("conn", True),
               Column("chan", True), Column("msgs in", True), Column("msgs out", True),
               Column("frames", True), Column("drop", True))
    TABLE_ID = "nodes-table"
    NOUN = "node"

    def show(self, overview: dict[str, Any],
             local_rates: dict[str, float] | None = None) -> None:
        """Show ``overview["nodes"]``; a server without it shows its own overview as the
        one row, with ``local_rates`` when it has no ``rates`` either."""
        nodes = overview.get("nodes")
        this = overview.get("node_id")
        if nodes is None:
            nodes = [{**overview, "ok": True,
                      "rates": overview.get("rates") or local_rates or {}}]
            title = Text("this node only (the server sends no per-node documents)")
        else:
            title = Text.assemble((plural(len(nodes), "node"), "bold"),
                                  f" · scope {overview.get('scope', 'cluster')}")
        seen = {n["node_id"]: n.get("last_seen_seconds")
                for n in overview.get("cluster_nodes", [])}
        for node in nodes:
            if not node.get("ok"):
                last = seen.get(node.get("node_id"))
                title.append(f" · {short_id(str(node.get('node_id')), 10)}: "
                             f"{node.get('error') or 'no answer'}"
                             + (f" (seen {last:.1f}s ago)" if last is not None else ""),
                             "bold red")
        self.set_title(title)
        self.fill(_node_row(n, this) for n in nodes)


#: The overview counters of the nodes table's last four columns.
NODE_COUNTERS = ("messages_received", "messages_broadcast", "frames_delivered",
                 "dropped_frames")


def _node_row(node: dict[str, Any], this: str | None) -> Row:
    node_id = str(node.get("node_id", "?"))
    name = Text(short_id(node_id, 10), style="bold" if node_id == this else "")
    if not node.get("ok"):
        return Row(node_id, [name, Text("down", style="bold red"), *["-"] * 7],
                   [node_id, "down", *[None] * 7], f"{node_id} down")
    counters = node.get("counters", {})
    rates = node.get("rates", {})

    def counted(key: str) -> str:
        rate = rates.get(key)
        count = counters.get(key, 0)
        return f"{count} ({rate:.1f}/s)" if isinstance(rate, int | float) else f"{count}"

    sizes = [node.get("uptime_seconds", 0), node.get("connection_count", 0),
             node.get("channel_count", 0)]
    return Row(node_id, [name, Text("ok", style="green"), duration(sizes[0]), *sizes[1:],
                         *(counted(k) for k in NODE_COUNTERS[:3]),
                         counters.get("dropped_frames", 0)],
               [node_id, "ok", *sizes, *(counters.get(k, 0) for k in NODE_COUNTERS)],
               f"{node_id} ok")
