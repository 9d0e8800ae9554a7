"""The inspector app: endpoints and channels, the selected channel's members, the
connections and the cluster nodes, rates and the live event tail, polled and streamed from
the admin API; tables sorted by any column and filtered with ``/``, a member's or
connection's details on enter; evict and close behind a confirmation."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    RichLog,
    Static,
    TabbedContent,
    TabPane,
    Tree,
)

from .api import CONNECTION_LIMIT, AdminError, AuthError, UnreachableError, WritesDisabledError
from .formatting import event_line, event_text, history_details, status_line, user_details
from .names import NameBook
from .screens import ConfirmScreen, DetailsScreen, HelpScreen
from .tables import TableView
from .views import (
    ChannelKey,
    ChannelTree,
    ChannelView,
    ConnectionsView,
    CounterRates,
    NodesView,
    RatesPanel,
    connection_key,
)

#: The most channel documents fetched per poll to learn the names of connections.
NAME_FETCHES_PER_POLL = 5
#: Members fetched per poll for the channel view: a big channel is read a page at a time.
MEMBER_PAGE = 200
#: The most stored broadcasts the history details show (the latest).
HISTORY_SHOWN = 20
#: The filter target of the event tail (the tables' are their views' names).
EVENTS = "events"

WRITES_DISABLED_HINT = ("write actions are disabled on this server (start it with "
                        "AdminOptions(allow_writes=True) / pondctl demo --admin-writes)")


class AdminAPI(Protocol):
    """What the app needs of :class:`~.api.AdminClient` (tests pass a fake)."""

    base_url: str

    async def overview(self) -> dict[str, Any]: ...
    async def endpoints(self) -> dict[str, Any]: ...
    async def channels(self) -> dict[str, Any]: ...
    async def channel(self, name: str, endpoint: str | None = None, *, offset: int = ...,
                      limit: int | None = ...) -> dict[str, Any]: ...
    async def connections(self, limit: int = ..., sort: str = ...) -> dict[str, Any]: ...
    async def history(self, name: str, endpoint: str | None = None, *, after: int = 0,
                      limit: int = 100) -> dict[str, Any]: ...
    async def evict(self, name: str, user_id: str, endpoint: str | None = None,
                    reason: str | None = None) -> dict[str, Any]: ...
    async def close_channel(self, name: str, endpoint: str | None = None,
                            reason: str | None = None) -> dict[str, Any]: ...
    def events(self, channel: str | None = None, on_open: Any = None) -> Any: ...
    async def aclose(self) -> None: ...


class InspectorApp(App[None]):
    """``pondctl inspect``."""

    TITLE = "pondctl inspect"
    # Every pane has a border; the one holding the focus has a bright one (its ring).
    CSS = """
    .pane { border: round $foreground 25%; border-title-color: $text-muted; }
    .pane:focus-within { border: round $accent; border-title-color: $accent;
                         border-title-style: bold; }
    #sidebar { width: 28; }
    #tree { height: 1fr; }
    #status { height: auto; padding: 0 1; }
    #status.ok { background: $success-darken-3; }
    #status.warn { background: $warning-darken-3; }
    #status.error { background: $error-darken-2; color: $text; }
    #views { height: 1fr; }
    #views ContentSwitcher { height: 1fr; }
    #views TabPane { height: 1fr; padding: 0; }
    #events-pane { height: 1fr; }
    #events-title { height: 1; padding: 0 1; background: $boost; }
    #filter { height: 3; display: none; }
    #filter.editing { display: block; }
    #events { height: 1fr; }
    """
    _VIEWS = Binding.Group("Views", compact=True)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("1", "show_view('channel')", "Channel", group=_VIEWS),
        Binding("2", "show_view('connections')", "Connections", group=_VIEWS),
        Binding("3", "show_view('nodes')", "Nodes", group=_VIEWS),
        Binding("s", "sort(1)", "Sort"),
        Binding("S", "sort(-1)", "Sort by the previous column", show=False),
        Binding("i", "reverse_sort", "Reverse the sort", show=False),
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear the filter", show=False),
        Binding("f", "toggle_follow", "Follow"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("c", "clear_events", "Clear"),
        Binding("e", "evict", "Evict"),
        Binding("x", "close_channel", "Close"),
        Binding("h", "history", "History", show=False),
        Binding("r", "refresh_now", "Refresh"),
        Binding("right_square_bracket", "member_page(1)", "Next members", show=False),
        Binding("left_square_bracket", "member_page(-1)", "Previous members", show=False),
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
        self.state = "connecting"  # connected | reconnecting | unreachable | denied | error
        self.status_message = ""
        self.overview: dict[str, Any] = {}
        self.endpoint_docs: list[dict[str, Any]] = []
        self.channel_docs: dict[ChannelKey, dict[str, Any]] = {}
        self.selected: ChannelKey | None = None
        self.member_offset = 0  # the first member shown of the selected channel
        self.channel_doc: dict[str, Any] | None = None
        self.connection_docs: list[dict[str, Any]] = []
        self.connection_sort = "age"  # the admin API's sort of the last connections asked
        self.view = "channel"
        self.names = NameBook()
        self.events: deque[dict[str, Any]] = deque(maxlen=max_events)
        self.visible_events: list[str] = []
        self.filter_text = ""  # the event tail's; each table has its own
        self.filter_target = EVENTS  # what the filter input filters: EVENTS or a view
        self._filter_return: Widget | None = None  # focused before the filter input
        self.paused = False
        self.following = False
        self.stream_channel: str | None = None  # the server-side filter of the open stream
        self.events_connected = False
        self.last_write = ""  # the outcome of the last evict or close
        self._counter_rates = CounterRates()
        self._local_rates: dict[str, float] | None = None
        self._ever_connected = False
        self._refresh_lock = asyncio.Lock()

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical(id="sidebar", classes="pane"):
                yield ChannelTree(id="tree")
            with Vertical(id="main"):
                yield Static("connecting...", id="status", classes="warn")
                yield RatesPanel(id="rates-panel")
                with TabbedContent(id="views", classes="pane"):
                    with TabPane("Channel", id="channel"):
                        yield ChannelView(id="channel-view")
                    with TabPane("Connections", id="connections"):
                        yield ConnectionsView(id="connections-view")
                    with TabPane("Nodes", id="nodes"):
                        yield NodesView(id="nodes-view")
                yield Input(id="filter")
                with Vertical(id="events-pane", classes="pane"):
                    yield Static("events", id="events-title")
                    yield RichLog(id="events", max_lines=1000, wrap=False, markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#sidebar").border_title = "channels"
        self.query_one(ChannelView).show(None, None)
        self.query_one("#tree", Tree).focus()
        self.run_worker(self._poll_loop(), name="poll", group="poll")
        self._open_events()

    async def on_unmount(self) -> None:
        # Textual cancels the workers only after Unmount: stop them first, or one still
        # polling fails the app with a request on the closed client.
        workers = list(self.workers)
        self.workers.cancel_all()
        await asyncio.gather(*(w.wait() for w in workers), return_exceptions=True)
        await self.api.aclose()

    # -- polling -------------------------------------------------------------------------

    async def _poll_loop(self) -> None:
        while True:
            if not await self.refresh_data():
                return
            await asyncio.sleep(self.poll_interval)

    async def refresh_data(self) -> bool:
        """Fetch the documents once (the connections only while their view is shown);
        False when the token was refused (stop polling)."""
        async with self._refresh_lock:
            try:
                overview = await self.api.overview()
                endpoints = (await self.api.endpoints())["endpoints"]
                channels = (await self.api.channels())["channels"]
                channel_doc = await self._fetch_selected(channels)
                named = self.names.learn((channel_doc or {}).get("members", []))
                connections = None
                if self.view == "connections":
                    self.connection_sort = self.query_one(ConnectionsView).server_sort
                    connections = await self.api.connections(sort=self.connection_sort)
                    named = await self._learn_names(connections["connections"]) or named
            except AuthError as exc:
                self._denied(exc)
                return False
            except UnreachableError as exc:
                self._unreachable(str(exc))
                return True
            except AdminError as exc:
                self._set_status("error", f"admin API error {exc.status}: {exc.message}")
                return True
            if not self.is_running:  # exiting: the widgets are being removed
                return False
            self._ever_connected = True
            self._apply(overview, endpoints, channels, channel_doc, connections)
            if named and not self.paused:
                self._render_events()  # show the names learned next to the ids
            return True

    async def _learn_names(self, connections: list[dict[str, Any]]) -> bool:
        """Fetch a few documents of channels of unnamed connections, to learn their
        presence names; True when a name was learned."""
        learned = False
        for endpoint, name in self.names.unnamed_channels(connections, NAME_FETCHES_PER_POLL):
            try:
                doc = await self.api.channel(name, endpoint)
            except AdminError as exc:
                if exc.status != 404 or isinstance(exc, AuthError):
                    raise
                continue  # closed meanwhile
            learned = self.names.learn(doc.get("members", [])) or learned
        return learned

    async def _fetch_selected(self, channels: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The selected channel's document (the first channel's when none is selected), or
        None when it has closed."""
        if self.selected is None and channels:
            first = min(channels, key=lambda c: (c["endpoint"], c["name"]))
            self.selected = (first["endpoint"], first["name"])
        selected = self.selected
        if selected is None or not any((c["endpoint"], c["name"]) == selected
                                       for c in channels):
            return None
        try:
            doc = await self.api.channel(selected[1], selected[0], offset=self.member_offset,
                                         limit=MEMBER_PAGE)
            if not doc.get("members") and self.member_offset:  # the channel shrank
                self.member_offset = 0
                doc = await self.api.channel(selected[1], selected[0], limit=MEMBER_PAGE)
            return doc
        except AdminError as exc:
            if exc.status != 404 or isinstance(exc, AuthError):
                raise
            return None

    def _apply(self, overview: dict[str, Any], endpoints: list[dict[str, Any]],
               channels: list[dict[str, Any]], channel_doc: dict[str, Any] | None,
               connections: dict[str, Any] | None) -> None:
        self.overview = overview
        self.endpoint_docs = endpoints
        self.channel_docs = {(c["endpoint"], c["name"]): c for c in channels}
        self.channel_doc = channel_doc
        self._update_rates(overview)
        self._set_status("connected", status_line(overview))
        self.query_one(ChannelTree).show(endpoints, channels, self.selected)
        self.query_one(ChannelView).show(self.selected, channel_doc)
        self.query_one(NodesView).show(overview, self._local_rates)
        if connections is not None:
            self.connection_docs = connections["connections"]
            self.query_one(ConnectionsView).show(self.connection_docs, self.names,
                                                 connections.get("total"))

    def _update_rates(self, overview: dict[str, Any]) -> None:
        """One sparkline sample: the server's rates, or the counters' growth over the last
        polls from a server that sends none."""
        rates = overview.get("rates")
        if not isinstance(rates, dict):
            rates = self._local_rates = self._counter_rates.update(
                time.monotonic(), overview.get("counters", {}))
            if rates is None:
                return
        self.push_rate(rates.get("messages_broadcast", 0.0),
                       rates.get("messages_received", 0.0), rates.get("frames_delivered", 0.0))

    def push_rate(self, broadcast: float, received: float, frames: float) -> None:
        """Add one sample of messages broadcast, received and frames delivered per second."""
        self.query_one(RatesPanel).push(broadcast, received, frames)

    # -- the event stream ----------------------------------------------------------------

    def _open_events(self) -> None:
        """(Re)open the event stream, filtered on the server by the selected channel's name
        while following it."""
        channel = self.selected[1] if self.following and self.selected else None
        self.stream_channel = channel
        self.events_connected = False
        self._render_events()
        self.run_worker(self._event_loop(channel), name="events", group="events",
                        exclusive=True)

    async def _event_loop(self, channel: str | None) -> None:
        while True:
            try:
                async for doc in self.api.events(channel=channel, on_open=self._events_opened):
                    if not self.is_running:
                        return
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
        if self.is_running:
            self._update_events_title()

    def add_event(self, doc: dict[str, Any]) -> None:
        """Collect one event document; show it unless paused or filtered out. A presence
        event names its user from then on."""
        self.events.append(doc)
        if doc.get("type") == "presence":
            self.names.learn([{"user_id": doc.get("user_id"), "presence": doc.get("changed")}])
        if not self.paused and self._matches(doc):
            self._show_event(doc)

    def _show_event(self, doc: dict[str, Any]) -> None:
        node = self.overview.get("node_id")
        self.visible_events.append(event_line(doc, node, self.names.name))
        self.query_one("#events", RichLog).write(event_text(doc, node, self.names.name))

    def _matches(self, doc: dict[str, Any]) -> bool:
        if self.stream_channel and doc.get("channel") != self.stream_channel:
            return False  # collected before the stream followed the channel
        needle = self.filter_text.strip().lower()
        return not needle or needle in event_line(doc, self.overview.get("node_id"),
                                                  self.names.name).lower()

    def _render_events(self) -> None:
        self.query_one("#events", RichLog).clear()
        self.visible_events = []
        for doc in self.events:
            if self._matches(doc):
                self._show_event(doc)
        self._update_events_title()

    def _update_events_title(self) -> None:
        parts = ["events", "live" if self.events_connected else "access denied"
                 if self.state == "denied" else "reconnecting..." if self._ever_connected
                 else "connecting..."]
        if self.stream_channel:
            parts.append(f"following {self.stream_channel} (f to stop)")
        if self.filter_text.strip():
            parts.append(f"filter: {self.filter_text.strip()!r} (escape clears)")
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
        self._update_events_title()
        self.notify(self.status_message, severity="error", timeout=10)

    # -- navigation ----------------------------------------------------------------------

    def on_tree_node_selected(self, event: Tree.NodeSelected[Any]) -> None:
        data = event.node.data
        if data and data[0] == "channel":
            self.select_channel(data[1], data[2])

    def select_channel(self, endpoint: str, name: str) -> None:
        """Show channel ``name`` of ``endpoint`` (and follow it when following)."""
        self.selected = (endpoint, name)
        self.member_offset = 0
        self.channel_doc = None
        self.query_one(ChannelView).set_title(f"{name}: loading...")
        if self.following and self.stream_channel != name:
            self._open_events()
        self.action_refresh_now()

    def current_table(self) -> TableView:
        """The table of the view shown."""
        views: dict[str, type[TableView]] = {"channel": ChannelView,
                                             "connections": ConnectionsView,
                                             "nodes": NodesView}
        return self.query_one(views[self.view])

    def action_sort(self, step: int) -> None:
        """Sort the shown table by its next (``step`` 1) or previous (-1) column."""
        self.current_table().cycle_sort(step)

    def action_reverse_sort(self) -> None:
        """Reverse the direction of the shown table's sort."""
        self.current_table().reverse_sort()

    def on_table_view_sorted(self, event: TableView.Sorted) -> None:
        # A connections list the server cut must be cut where the new sort wants it.
        if (isinstance(event.view, ConnectionsView)
                and event.view.server_sort != self.connection_sort):
            self.action_refresh_now()

    def action_show_view(self, view: str) -> None:
        self.query_one("#views", TabbedContent).active = view

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.view = event.pane.id or "channel"
        if self.view == "connections":
            self.action_refresh_now()

    # -- filters -------------------------------------------------------------------------

    def _filter_target_of_focus(self) -> str:
        """What ``/`` and ``escape`` filter: the event tail when it has the focus, else the
        shown view's table."""
        focused = self.focused
        return EVENTS if focused is not None and focused.id == "events" else self.view

    def filter_of(self, target: str) -> str:
        """The filter text of ``target`` (:data:`EVENTS` or a view)."""
        return self.filter_text if target == EVENTS else self.current_table().filter_text

    def set_filter(self, target: str, text: str) -> None:
        """Filter ``target`` (:data:`EVENTS` or the shown view) by ``text``."""
        if target == EVENTS:
            self.filter_text = text
            self._render_events()
        elif target == self.view:
            self.current_table().set_filter(text)

    def action_focus_filter(self) -> None:
        """Open the filter input on the focused pane (the event tail, or the shown table)."""
        target = self._filter_target_of_focus()
        self.filter_target = target
        field = self.query_one("#filter", Input)
        if not field.has_class("editing"):
            self._filter_return = self.focused
        what = "events: type, channel, user or text" if target == EVENTS else (
            f"{self.current_table().NOUN}s: any column, e.g. a name")
        field.placeholder = f"filter {what} · enter keeps it · escape clears it"
        field.value = self.filter_of(target)
        field.add_class("editing")
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter" and event.input.has_class("editing"):
            self.set_filter(self.filter_target, event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._close_filter()

    def action_clear_filter(self) -> None:
        """Clear the filter being typed, or the focused pane's."""
        field = self.query_one("#filter", Input)
        if field.has_class("editing"):
            self.set_filter(self.filter_target, "")
            self._close_filter()
        else:
            self.set_filter(self._filter_target_of_focus(), "")

    def _close_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.remove_class("editing")
        back = self._filter_return
        self._filter_return = None
        if back is not None and back.is_attached and back.focusable:
            back.focus()
        else:
            self.query_one("#tree", Tree).focus()

    # -- details -------------------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a member or a connection opens its details."""
        key = event.row_key.value
        if key is None:
            return
        if event.data_table.id == "members":
            member = self.query_one(ChannelView).members.get(key)
            if member is not None:
                self.run_worker(self.show_details(member=member), group="details",
                                exclusive=True)
        elif event.data_table.id == "connections-table":
            connection = self.query_one(ConnectionsView).connections.get(key)
            if connection is not None:
                self.run_worker(self.show_details(connection=connection),
                                group="details", exclusive=True)

    async def show_details(self, member: dict[str, Any] | None = None,
                           connection: dict[str, Any] | None = None) -> None:
        """Open the details of ``member`` (of the selected channel; its connection is
        looked up) or of ``connection``."""
        doc = member or connection or {}
        user_id, node = str(doc.get("user_id")), str(doc.get("node", "local"))
        note = ""
        if connection is None:
            connection, note = await self._find_connection(user_id, node)
        presence = member.get("presence") if member else self.names.presence(user_id)
        channel = self.selected[1] if member and self.selected else None
        self.push_screen(DetailsScreen(user_details(
            user_id, self.names.name(user_id), node, connection, presence, channel,
            member.get("joined_at") if member else None, note)))

    async def _find_connection(self, user_id: str,
                               node: str) -> tuple[dict[str, Any] | None, str]:
        """The connection of ``user_id`` on ``node`` (fetched), and why not when not found."""
        wanted = connection_key({"user_id": user_id, "node": node})
        try:
            docs = (await self.api.connections(limit=CONNECTION_LIMIT))["connections"]
        except (AdminError, UnreachableError) as exc:
            return None, f"its connection could not be fetched: {exc}"
        found = next((c for c in docs if connection_key(c) == wanted), None)
        if found is None:
            return None, (f"its connection is not among the {CONNECTION_LIMIT} oldest "
                          f"the server sent")
        return found, ""

    def action_toggle_follow(self) -> None:
        if not self.following and self.selected is None:
            self.notify("select a channel to follow first", severity="warning")
            return
        self.following = not self.following
        self._open_events()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if self.paused:
            self._update_events_title()
        else:
            self._render_events()

    def action_clear_events(self) -> None:
        self.events.clear()
        self._render_events()

    def action_member_page(self, step: int) -> None:
        """Show the next (``step`` 1) or previous (-1) page of the channel's members."""
        total = (self.channel_doc or {}).get("members_total", 0)
        offset = self.member_offset + step * MEMBER_PAGE
        if 0 <= offset < total and offset != self.member_offset:
            self.member_offset = offset
            self.action_refresh_now()

    def action_refresh_now(self) -> None:
        self.run_worker(self.refresh_data(), group="refresh")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    # -- write actions -------------------------------------------------------------------

    def action_evict(self) -> None:
        """Evict the member under the member table's cursor, once confirmed."""
        member = self.query_one(ChannelView).selected_member()
        if self.selected is None or self.channel_doc is None or member is None:
            self.notify("select a member in the Channel view first", severity="warning")
            return
        endpoint, name = self.selected
        user_id = member["user_id"]
        who = user_id + (f" ({member['presence']['name']})"
                         if isinstance(member.get("presence"), dict)
                         and "name" in member["presence"] else "")
        self._confirm(f"Evict [b]{who}[/b] from [b]{name}[/b]?",
                      lambda: self.api.evict(name, user_id, endpoint),
                      f"evicted {user_id} from {name}")

    def action_history(self) -> None:
        """Show the selected channel's recent history (a lobby with history)."""
        if self.selected is None:
            self.notify("select a channel first", severity="warning")
            return
        self.run_worker(self.show_history(*self.selected), group="details", exclusive=True)

    async def show_history(self, endpoint: str, name: str) -> None:
        """Open the last ``HISTORY_SHOWN`` stored broadcasts of channel ``name``."""
        try:
            doc = await self.api.history(name, endpoint, limit=1000)
        except AdminError as exc:
            reason = ("no history kept for this channel" if exc.status == 404
                      else f"{exc.status} {exc.message}")
            self.notify(f"history of {name}: {reason}", severity="warning")
            return
        except UnreachableError as exc:
            self.notify(f"server unreachable: {exc}", severity="error")
            return
        self.push_screen(DetailsScreen(history_details(doc, HISTORY_SHOWN)))

    def action_close_channel(self) -> None:
        """Close the selected channel (its members are evicted), once confirmed."""
        if self.selected is None or self.channel_doc is None:
            self.notify("select an open channel first", severity="warning")
            return
        endpoint, name = self.selected
        count = self.channel_doc.get("member_count", 0)
        self._confirm(f"Close [b]{name}[/b] and evict its {count} member(s)?",
                      lambda: self.api.close_channel(name, endpoint), f"closed {name}")

    def _confirm(self, question: str, call: Callable[[], Awaitable[dict[str, Any]]],
                 done: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._write(call(), done), group="write")

        self.push_screen(ConfirmScreen(question), answered)

    async def _write(self, request: Awaitable[dict[str, Any]], done: str) -> None:
        try:
            await request
        except WritesDisabledError:
            self._report_write(WRITES_DISABLED_HINT, error=True)
        except AdminError as exc:
            self._report_write(f"refused: {exc.status} {exc.message}", error=True)
        except UnreachableError as exc:
            self._report_write(f"server unreachable: {exc}", error=True)
        else:
            self._report_write(done)
            await self.refresh_data()

    def _report_write(self, message: str, error: bool = False) -> None:
        self.last_write = message
        self.notify(message, severity="error" if error else "information",
                    timeout=10 if error else 5)
