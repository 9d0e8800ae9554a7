"""The inspector's panels, each fed whole admin documents: the tree of endpoints and
channels, the rates with their sparklines, the selected channel with its members, the
connections and the cluster nodes."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Sparkline, Static, Tree
from textual.widgets.tree import TreeNode

from .formatting import clock, compact, duration, plural, short_id

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


class ChannelTree(Tree[Any]):
    """Each endpoint with its connection count, and under it its live channels with their
    member counts (``[3]``, or ``[3+2]`` with members on other nodes). A node's data is
    ``("endpoint", path)`` or ``("channel", endpoint, name)``."""

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
        paths = [*by_path, *sorted({key[0] for key in by_key} - by_path.keys())]
        for path in [p for p in self.endpoint_nodes if p not in paths]:
            self.endpoint_nodes.pop(path).remove()
        for path in paths:
            label = Text.assemble((path, "bold"), (
                f"  {by_path.get(path, {}).get('connection_count', 0)} conn", "dim"))
            node = self.endpoint_nodes.get(path)
            if node is None:
                self.endpoint_nodes[path] = self.root.add(label, data=("endpoint", path),
                                                          expand=True)
            else:
                node.set_label(label)
        for key in [k for k in self.channel_nodes if k not in by_key]:
            self.channel_nodes.pop(key).remove()
        for key in sorted(by_key):
            doc = by_key[key]
            remote = doc.get("remote_member_count", 0)
            count = f"{doc['member_count']}" + (f"+{remote}" if remote else "")
            label = Text.assemble(key[1], (f"  [{count}]", "green"))
            if key == selected:
                label.stylize("reverse", 0, len(key[1]))
            node = self.channel_nodes.get(key)
            if node is None:
                self.channel_nodes[key] = self.endpoint_nodes[key[0]].add_leaf(
                    label, data=("channel", *key))
            else:
                node.set_label(label)


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


class TableView(Vertical):
    """A title line over a row-cursor table that keeps its cursor on the same row (by key)
    when refilled."""

    DEFAULT_CSS = """
    TableView { height: 1fr; }
    TableView > .title { height: auto; padding: 0 1; background: $boost; }
    TableView > DataTable { height: 1fr; }
    """
    COLUMNS: tuple[str, ...] = ()
    TABLE_ID = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="title")
        table: DataTable[Any] = DataTable(id=self.TABLE_ID or None, cursor_type="row",
                                          zebra_stripes=True)
        table.add_columns(*self.COLUMNS)
        yield table

    @property
    def table(self) -> DataTable[Any]:
        """The view's table."""
        return self.query_one(DataTable)

    def set_title(self, title: str | Text) -> None:
        """Replace the title line(s) above the table."""
        self.query_one(".title", Static).update(title)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, or None when the table is empty."""
        table = self.table
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def fill(self, rows: Iterable[tuple[str, list[Any]]]) -> None:
        """Replace the rows (``(key, cells)``), keeping the cursor on the same key.

        The columns get widths measured here: DataTable's own measuring happens later and
        its cell cache can keep cells drawn at the header's width meanwhile."""
        rows = list(rows)
        table = self.table
        keep, index = self.selected_key(), table.cursor_row
        table.clear(columns=True)
        for column, label in enumerate(self.COLUMNS):
            width = max([cell_len(label), *(_cell_width(cells[column]) for _, cells in rows)])
            table.add_column(label, width=width)
        for key, cells in rows:
            table.add_row(*cells, key=key)
        if not rows:
            return
        if keep is not None and keep in table.rows:
            index = table.get_row_index(keep)
        table.move_cursor(row=min(index, len(rows) - 1))


def _cell_width(cell: Any) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


class ChannelView(TableView):
    """The selected channel: its counters and rates, and its members with their presence."""

    COLUMNS = ("user", "node", "presence", "joined")
    TABLE_ID = "members"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members: dict[str, dict[str, Any]] = {}

    def show(self, selected: ChannelKey | None, doc: dict[str, Any] | None) -> None:
        """Show channel ``doc`` (None: ``selected`` is loading, closed or unset)."""
        if doc is None:
            self.set_title("no channel selected (pick one in the tree)" if selected is None
                           else f"{selected[1]}: closed")
            self.members = {}
            self.table.clear()
            return
        self.set_title(channel_title(doc))
        # Local members by join time, then those of other nodes (no join time known).
        members = sorted(doc.get("members", []),
                         key=lambda m: (m.get("joined_at") is None, m.get("joined_at") or 0,
                                        m["user_id"]))
        self.members = {m["user_id"]: m for m in members}
        self.fill((m["user_id"], [short_id(m["user_id"], 14), short_id(str(m["node"]), 10),
                                  compact(m.get("presence")), clock(m.get("joined_at"))])
                  for m in members)

    def selected_member(self) -> dict[str, Any] | None:
        """The member under the cursor."""
        key = self.selected_key()
        return self.members.get(key) if key is not None else None


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
    """Every connection: node, endpoint and transport, channels, queue and delivery
    counters. Oldest first (per node); rows that drop frames are red, those with a queue
    yellow."""

    COLUMNS = ("user", "node", "endpoint", "channels", "queue", "sent", "drop", "age")
    TABLE_ID = "connections-table"

    def show(self, docs: list[dict[str, Any]], sort: str = "age",
             total: int | None = None) -> None:
        """Show the ``connections`` list of ``/connections`` sorted by ``sort`` (one of
        :data:`CONNECTION_SORTS`), the first ``len(docs)`` of ``total`` when the server cut
        the list."""
        if sort == "age":  # this node's first, then each node's, oldest first
            docs = sorted(docs, key=lambda c: (c.get("node", "local") != "local",
                                               str(c.get("node", "")),
                                               -c.get("age_seconds", 0), c["user_id"]))
        else:  # largest first across the nodes, as the server cut the list
            docs = sorted(docs, key=lambda c: -c.get(sort, 0))
        queued = sum(c.get("queue_depth", 0) for c in docs)
        dropped = sum(c.get("dropped_frames", 0) for c in docs)
        count = (f"first {len(docs)} of {plural(total, 'connection')}"
                 if total is not None and total > len(docs)
                 else plural(len(docs), "connection"))
        self.set_title(Text.assemble(
            (count, "bold"), f" · by {SORT_NAMES[sort]} (s) · {queued} frames queued · ",
            (f"{dropped} dropped", "red" if dropped else "")))
        self.fill((f"{c.get('node', 'local')}:{c['user_id']}", _connection_row(c))
                  for c in docs)


#: How the connections view can be sorted (the admin API's ``sort``), and their names.
CONNECTION_SORTS = ("age", "queue_depth", "dropped_frames", "frames_sent")
SORT_NAMES = {"age": "age", "queue_depth": "queue depth", "dropped_frames": "dropped frames",
              "frames_sent": "frames sent"}


TRANSPORTS = {"websocket": "ws", "memory": "mem"}


def _connection_row(doc: dict[str, Any]) -> list[Any]:
    style = ("red" if doc.get("dropped_frames") else
             "yellow" if doc.get("queue_depth") else "")
    transport = str(doc.get("transport", "?"))
    channels = doc.get("channels", [])
    cells = [short_id(doc["user_id"], 10), short_id(str(doc.get("node", "local")), 9),
             f"{doc.get('endpoint', '?')} ({TRANSPORTS.get(transport, transport)})",
             short_id(f"{len(channels)}: {', '.join(channels)}", 14) if channels else "-",
             doc.get("queue_depth", 0), doc.get("frames_sent", 0),
             doc.get("dropped_frames", 0), duration(doc.get("age_seconds", 0))]
    return [Text(str(cell), style=style) for cell in cells]


class NodesView(TableView):
    """The cluster's nodes from the overview: counts, counters with their rates, and
    whether each answered (why not in the title). This node's id is bold."""

    COLUMNS = ("node", "state", "up", "conn", "chan", "msgs in", "msgs out", "frames",
               "drop")
    TABLE_ID = "nodes-table"

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
        self.fill((str(n.get("node_id")), _node_row(n, this)) for n in nodes)


def _node_row(node: dict[str, Any], this: str | None) -> list[Any]:
    node_id = str(node.get("node_id", "?"))
    name = Text(short_id(node_id, 10), style="bold" if node_id == this else "")
    if not node.get("ok"):
        return [name, Text("down", style="bold red"), *["-"] * 7]
    counters = node.get("counters", {})
    rates = node.get("rates", {})

    def counted(key: str) -> str:
        rate = rates.get(key)
        count = counters.get(key, 0)
        return f"{count} ({rate:.1f}/s)" if isinstance(rate, int | float) else f"{count}"

    return [name, Text("ok", style="green"), duration(node.get("uptime_seconds", 0)),
            node.get("connection_count", 0), node.get("channel_count", 0),
            counted("messages_received"), counted("messages_broadcast"),
            counted("frames_delivered"), counters.get("dropped_frames", 0)]
