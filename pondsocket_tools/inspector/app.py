"""The inspector app: endpoints and channels, the selected channel's members, rates and the
live event tail, polled and streamed from the admin API."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, ClassVar, Protocol

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Input, RichLog, Sparkline, Static, Tree
from textual.widgets.tree import TreeNode

from .api import AdminError, AuthError, UnreachableError
from .widgets import HelpScreen, clock, compact, event_line, event_text, short_id

ChannelKey = tuple[str, str]  # (endpoint, channel name)


class AdminAPI(Protocol):
    """What the app needs of :class:`~.api.AdminClient` (tests pass a fake)."""

    base_url: str

    async def overview(self) -> dict[str, Any]: ...
    async def endpoints(self) -> dict[str, Any]: ...
    async def channels(self) -> dict[str, Any]: ...
    async def channel(self, name: str, endpoint: str | None = None) -> dict[str, Any]: ...
    def events(self, channel: str | None = None, on_open: Any = None) -> Any: ...
    async def aclose(self) -> None: ...


class InspectorApp(App[None]):
    """``pondctl inspect``."""

    TITLE = "pondctl inspect"
    CSS = """
    #sidebar { width: 32; border-right: solid $primary-darken-2; }
    #tree { height: 1fr; }
    #status { height: auto; padding: 0 1; }
    #status.ok { background: $success-darken-3; }
    #status.warn { background: $warning-darken-3; }
    #status.error { background: $error-darken-2; color: $text; }
    #rates-row { height: 3; padding: 0 1; }
    #rates-label { width: 44; }
    #rates { width: 1fr; height: 3; }
    #channel-title { height: 1; padding: 0 1; background: $boost; }
    #members { height: 1fr; }
    #events-title { height: 1; padding: 0 1; background: $boost; }
    #filter { height: 3; }
    #events { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "leave_filter", "Leave filter", show=False),
        Binding("p", "toggle_pause", "Pause"),
        Binding("c", "clear_events", "Clear"),
        Binding("r", "refresh_now", "Refresh"),
        Binding("question_mark", "help", "Help"),
    ]

    def __init__(self, api: AdminAPI, *, poll_interval: float = 1.0,
                 reconnect_delay: float = 1.0, max_events: int = 2000) -> None:
        super().__init__()
        self.api = api
        self.poll_interval = poll_interval
        self.reconnect_delay = reconnect_delay
        self.sub_title = api.base_url
        # State, also read by the tests.
        self.state = "connecting"  # connected | reconnecting | unreachable | denied
        self.status_message = ""
        self.overview: dict[str, Any] = {}
        self.endpoint_docs: list[dict[str, Any]] = []
        self.channel_docs: dict[ChannelKey, dict[str, Any]] = {}
        self.selected: ChannelKey | None = None
        self.channel_doc: dict[str, Any] | None = None
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.visible_events: list[str] = []
        self.filter_text = ""
        self.paused = False
        self.events_connected = False
        self.rates: deque[float] = deque(maxlen=60)
        self.rate_text = "- msg/s"
        self._last_counters: tuple[float, dict[str, int]] | None = None
        self._endpoint_nodes: dict[str, TreeNode[Any]] = {}
        self._channel_nodes: dict[ChannelKey, TreeNode[Any]] = {}
        self._ever_connected = False
        self._refresh_lock = asyncio.Lock()

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="sidebar"):
                tree: Tree[Any] = Tree("server", id="tree")
                tree.show_root = False
                tree.root.expand()
                yield tree
            with Vertical(id="main"):
                yield Static("connecting...", id="status", classes="warn")
                with Horizontal(id="rates-row"):
                    yield Static(self.rate_text, id="rates-label")
                    yield Sparkline(list(self.rates), id="rates")
                yield Static("no channel selected", id="channel-title")
                table: DataTable[Any] = DataTable(id="members", cursor_type="row",
                                                  zebra_stripes=True)
                yield table
                yield Static("events", id="events-title")
                yield Input(placeholder="filter events: type, channel or text (press /)",
                            id="filter")
                yield RichLog(id="events", max_lines=1000, wrap=False, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#members", DataTable)
        table.add_columns("user", "node", "presence", "joined")
        self.query_one("#tree", Tree).focus()
        self._update_events_title()
        self.run_worker(self._poll_loop(), name="poll", group="admin")
        self.run_worker(self._event_loop(), name="events", group="admin")

    async def on_unmount(self) -> None:
        await self.api.aclose()

    # -- polling -------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            if not await self.refresh_data():
                return
            await asyncio.sleep(self.poll_interval)

    async def refresh_data(self) -> bool:
        """Fetch every document once; False when the token was refused (stop polling)."""
        async with self._refresh_lock:
            try:
                overview = await self.api.overview()
                endpoints = (await self.api.endpoints())["endpoints"]
                channels = (await self.api.channels())["channels"]
                channel_doc = None
                selected = self.selected
                if selected is None and channels:
                    first = min(channels, key=lambda c: (c["endpoint"], c["name"]))
                    selected = self.selected = (first["endpoint"], first["name"])
                if selected is not None and any(
                        (c["endpoint"], c["name"]) == selected for c in channels):
                    try:
                        channel_doc = await self.api.channel(selected[1], selected[0])
                    except AdminError as exc:
                        if exc.status != 404 or isinstance(exc, AuthError):
                            raise
            except AuthError as exc:
                self._denied(exc)
                return False
            except UnreachableError as exc:
                self._unreachable(str(exc))
                return True
            except AdminError as exc:
                self._set_status("error", f"admin API error {exc.status}: {exc.message}")
                return True
            self._ever_connected = True
            self._apply(overview, endpoints, channels, channel_doc)
            return True

    def _apply(self, overview: dict[str, Any], endpoints: list[dict[str, Any]],
               channels: list[dict[str, Any]], channel_doc: dict[str, Any] | None) -> None:
        self.overview = overview
        self.endpoint_docs = endpoints
        self.channel_docs = {(c["endpoint"], c["name"]): c for c in channels}
        self.channel_doc = channel_doc
        self._update_rates(overview)
        counters = overview.get("counters", {})
        node = str(overview.get("node_id", "?"))[:12]
        self._set_status("connected", (
            f"connected · node {node} · up {_duration(overview.get('uptime_seconds', 0))} · "
            f"{overview.get('connection_count', 0)} conns · "
            f"{overview.get('channel_count', 0)} channels · "
            f"{counters.get('dropped_frames', 0)} dropped"))
        self._update_tree()
        self._update_channel_view()

    def _update_rates(self, overview: dict[str, Any]) -> None:
        counters = overview.get("counters", {})
        now = time.monotonic()
        last = self._last_counters
        self._last_counters = (now, counters)
        if last is None or now <= last[0]:
            return
        elapsed = now - last[0]

        def rate(key: str) -> float:
            # A restarted server starts its counters again: never a negative rate.
            return max(0, counters.get(key, 0) - last[1].get(key, 0)) / elapsed

        self.push_rate(rate("messages_broadcast"), rate("messages_received"),
                       rate("frames_delivered"))

    def push_rate(self, broadcast: float, received: float, frames: float) -> None:
        """Add one sample to the sparkline (messages broadcast per second)."""
        self.rates.append(broadcast)
        self.rate_text = (f"{broadcast:6.1f} msg/s out  {received:6.1f} msg/s in\n"
                          f"{frames:6.1f} frames/s  (peak {max(self.rates):.1f} msg/s)")
        self.query_one("#rates-label", Static).update(self.rate_text)
        self.query_one("#rates", Sparkline).data = list(self.rates)

    def _update_tree(self) -> None:
        tree = self.query_one("#tree", Tree)
        paths = [e["path"] for e in self.endpoint_docs]
        paths += sorted({key[0] for key in self.channel_docs} - set(paths))
        for path in list(self._endpoint_nodes):
            if path not in paths:
                self._endpoint_nodes.pop(path).remove()
        for endpoint in paths:
            doc = next((e for e in self.endpoint_docs if e["path"] == endpoint), {})
            label = Text.assemble((endpoint, "bold"),
                                  (f"  {doc.get('connection_count', 0)} conn", "dim"))
            node = self._endpoint_nodes.get(endpoint)
            if node is None:
                node = tree.root.add(label, data=("endpoint", endpoint), expand=True)
                self._endpoint_nodes[endpoint] = node
            else:
                node.set_label(label)
        for key in list(self._channel_nodes):
            if key not in self.channel_docs:
                self._channel_nodes.pop(key).remove()
        for key in sorted(self.channel_docs):
            doc = self.channel_docs[key]
            remote = doc.get("remote_member_count", 0)
            count = f"{doc['member_count']}" + (f"+{remote}" if remote else "")
            label = Text.assemble(key[1], (f"  [{count}]", "green"))
            if key == self.selected:
                label.stylize("reverse", 0, len(key[1]))
            node = self._channel_nodes.get(key)
            if node is None:
                node = self._endpoint_nodes[key[0]].add_leaf(label, data=("channel", *key))
                self._channel_nodes[key] = node
            else:
                node.set_label(label)

    def _update_channel_view(self) -> None:
        title = self.query_one("#channel-title", Static)
        table = self.query_one("#members", DataTable)
        doc = self.channel_doc
        if doc is None:
            title.update("no channel selected (pick one in the tree)" if self.selected is None
                         else f"{self.selected[1]}: closed")
            table.clear()
            return
        remote = doc.get("remote_member_count", 0)
        title.update(Text.assemble(
            (doc["name"], "bold"), f" · {doc['pattern']} · ",
            (f"{doc['member_count']} members", "green"),
            (f" +{remote} remote" if remote else ""),
            f" · {doc['messages_received']} in · {doc['messages_broadcast']} out · "
            f"{doc['frames_delivered']} frames"))
        members = sorted(doc.get("members", []),
                         key=lambda m: (m.get("joined_at") or 0, m["user_id"]))
        cursor = table.cursor_row
        table.clear()
        for member in members:
            table.add_row(short_id(member["user_id"], 14), short_id(str(member["node"]), 10),
                          compact(member.get("presence")), clock(member.get("joined_at")),
                          key=member["user_id"])
        if members:
            table.move_cursor(row=min(cursor, len(members) - 1))

    # -- the event stream ----------------------------------------------------------------

    async def _event_loop(self) -> None:
        while True:
            try:
                async for doc in self.api.events(on_open=self._events_opened):
                    self.add_event(doc)
            except AuthError as exc:
                self.events_connected = False
                self._denied(exc)
                return
            except (UnreachableError, AdminError):
                pass
            self.events_connected = False
            self._update_events_title()
            await asyncio.sleep(self.reconnect_delay)

    def _events_opened(self) -> None:
        self.events_connected = True
        self._update_events_title()

    def add_event(self, doc: dict[str, Any]) -> None:
        self.events.append(doc)
        if not self.paused and self._matches(doc):
            self.visible_events.append(event_line(doc))
            self.query_one("#events", RichLog).write(event_text(doc))

    def _matches(self, doc: dict[str, Any]) -> bool:
        needle = self.filter_text.strip().lower()
        return not needle or needle in event_line(doc).lower()

    def _render_events(self) -> None:
        log = self.query_one("#events", RichLog)
        log.clear()
        self.visible_events = []
        for doc in self.events:
            if self._matches(doc):
                self.visible_events.append(event_line(doc))
                log.write(event_text(doc))
        self._update_events_title()

    def _update_events_title(self) -> None:
        parts = ["events"]
        parts.append("live" if self.events_connected else "reconnecting..."
                     if self._ever_connected else "connecting...")
        if self.filter_text.strip():
            parts.append(f"filter: {self.filter_text.strip()!r}")
        if self.paused:
            parts.append("PAUSED (p to resume)")
        self.query_one("#events-title", Static).update(" · ".join(parts))

    # -- status --------------------------------------------------------------------------

    def _set_status(self, state: str, message: str) -> None:
        self.state = state
        self.status_message = message
        status = self.query_one("#status", Static)
        status.set_classes("ok" if state == "connected" else
                           "error" if state in ("denied", "error") else "warn")
        status.update(message)

    def _unreachable(self, detail: str) -> None:
        if self._ever_connected:
            self._set_status("reconnecting", f"reconnecting... (server unreachable: {detail})")
        else:
            self._set_status("unreachable", f"cannot reach the admin API at "
                             f"{self.api.base_url}: is the server running with the admin "
                             f"API enabled? retrying... ({detail})")
        self._update_events_title()

    def _denied(self, exc: AdminError) -> None:
        if self.state == "denied":
            return
        hint = ("no token: pass --token or set PONDCTL_ADMIN_TOKEN" if exc.status == 401
                else "wrong token: check --token or PONDCTL_ADMIN_TOKEN")
        self._set_status("denied", f"access denied ({exc.status} {exc.message}): {hint}")
        self.notify(self.status_message, severity="error", timeout=10)

    # -- actions -------------------------------------------------------------------------

    def on_tree_node_selected(self, event: Tree.NodeSelected[Any]) -> None:
        data = event.node.data
        if data and data[0] == "channel":
            self.select_channel(data[1], data[2])

    def select_channel(self, endpoint: str, name: str) -> None:
        self.selected = (endpoint, name)
        self.channel_doc = None
        self.query_one("#channel-title", Static).update(f"{name}: loading...")
        self.run_worker(self.refresh_data(), group="refresh")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.filter_text = event.value
            self._render_events()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one("#tree", Tree).focus()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._update_events_title()
        else:
            self._render_events()

    def action_clear_events(self) -> None:
        self.events.clear()
        self._render_events()

    def action_refresh_now(self) -> None:
        self.run_worker(self.refresh_data(), group="refresh")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
