"""Finding one's way in the inspector against fixed documents (:class:`FakeAPI`): sorting
any table by any column, ``/`` filters on the focused pane and ``escape`` clearing them,
a member's or connection's details on enter, presence names next to ids, the tree's order
and the focus ring."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from pondsocket_tools.inspector.app import InspectorApp
from pondsocket_tools.inspector.names import NameBook
from pondsocket_tools.inspector.screens import DetailsScreen
from pondsocket_tools.inspector.tables import Row, Sort, sort_rows
from pondsocket_tools.inspector.views import ChannelTree

from .conftest import CHANNELS, EVENTS, FakeAPI, wait_for

SIZE = (120, 36)
LOBBY = ("/api/socket", "/chat/lobby")


def make_app(api: FakeAPI | None = None) -> InspectorApp:
    return InspectorApp(api or FakeAPI(), poll_interval=3600, reconnect_delay=3600)


async def loaded(pilot: Any) -> None:
    app: InspectorApp = pilot.app
    await wait_for(pilot, lambda: app.channel_doc is not None
                   and len(app.visible_events) == len(EVENTS), what="the fake documents")


def column(table: DataTable[Any], index: int) -> list[str]:
    return [str(table.get_row_at(row)[index]) for row in range(table.row_count)]


def headers(table: DataTable[Any]) -> list[str]:
    return [str(c.label) for c in table.ordered_columns]


async def show_connections(pilot: Any) -> DataTable[Any]:
    await pilot.press("2")
    await wait_for(pilot, lambda: pilot.app.connection_docs, what="the connections")
    await pilot.pause()
    return pilot.app.query_one("#connections-table", DataTable)


# -- sorting ------------------------------------------------------------------------------

def test_rows_without_a_value_sort_last_in_either_direction() -> None:
    rows = [Row(k, [], [v], k) for k, v in (("a", 2), ("b", None), ("c", 1), ("d", 3))]
    assert [r.key for r in sort_rows(rows, Sort(0, False))] == ["c", "a", "d", "b"]
    assert [r.key for r in sort_rows(rows, Sort(0, True))] == ["d", "a", "c", "b"]
    assert [r.key for r in sort_rows(rows, None)] == ["a", "b", "c", "d"]


async def test_sort_by_any_column_and_direction_with_an_indicator() -> None:
    api = FakeAPI()
    app = make_app(api)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        table = await show_connections(pilot)
        # At first the oldest first (the fixture is in no column's order).
        assert headers(table)[8] == "age ▼"
        assert column(table, 8) == ["13m21s", "10m40s", "8m32s", "1m35s"]
        assert api.connection_sorts[-1] == "age"

        await pilot.press("S")  # the previous column: dropped frames, largest first
        assert headers(table)[7] == "drop ▼" and headers(table)[8] == "age"
        assert column(table, 7) == ["2", "0", "0", "0"]
        await pilot.press("S")  # frames sent
        assert column(table, 6) == ["60", "52", "41", "12"]
        await wait_for(pilot, lambda: api.connection_sorts[-1] == "frames_sent",
                       what="the server asked for the largest senders")
        await pilot.press("i")  # the other way
        assert headers(table)[6] == "sent ▲"
        assert column(table, 6) == ["12", "41", "52", "60"]
        await pilot.press("s", "s", "s")  # drop, age, then round to the user column
        assert headers(table)[0] == "user ▲"
        assert column(table, 0) == sorted(column(table, 0))
        assert api.connection_sorts[-1] == "age"  # the server cannot sort by user

        # A click on a header sorts by its column; a second click reverses it.
        x = sum(c.get_render_width(table) for c in table.ordered_columns[:5]) + 1
        await pilot.click(table, offset=(x, 0))
        assert headers(table)[5] == "queue ▼" and column(table, 5) == ["3", "1", "0", "0"]
        await pilot.click(table, offset=(x, 0))
        assert headers(table)[5] == "queue ▲" and column(table, 5)[-2:] == ["1", "3"]

        await pilot.press("1")  # s sorts the shown view's table: the members now
        members = app.query_one("#members", DataTable)
        assert headers(members)[3] == "joined ▲"  # by join time; dan's is not known: last
        assert column(members, 3) == ["16:00:11", "16:00:12", "16:00:13", "-"]
        await pilot.press("i")
        assert column(members, 3) == ["16:00:13", "16:00:12", "16:00:11", "-"]

        await pilot.press("3")  # the nodes: in the overview's order (this node first)
        nodes = app.query_one("#nodes-table", DataTable)
        assert not any(h.endswith(("▲", "▼")) for h in headers(nodes))
        assert column(nodes, 1) == ["ok", "ok", "down"]
        await pilot.press("S")  # unsorted, the previous column is the last: drops
        assert headers(nodes)[8] == "drop ▼"
        await pilot.press("s", "s")  # round to node, then state: "down" < "ok"
        assert headers(nodes)[1] == "state ▲" and column(nodes, 1) == ["down", "ok", "ok"]


# -- filters ------------------------------------------------------------------------------

async def test_slash_filters_the_shown_table_and_escape_clears_it() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        members = app.query_one("#members", DataTable)
        assert members.row_count == 4
        await pilot.press("slash", *"bob")  # from the tree: the Channel view's members
        assert members.row_count == 1 and "name=bob" in column(members, 2)[0]
        assert len(app.visible_events) == len(EVENTS)  # the event tail is not filtered
        await pilot.press("enter")  # keeps the filter, back to the tree
        assert app.focused is app.query_one(ChannelTree)
        title = str(app.query_one("#channel-view .title").render())
        assert "filter 'bob': 1 of 4 members" in title
        assert members.row_count == 1

        await pilot.press("escape")  # clears the focused pane's filter
        assert members.row_count == 4
        assert "filter" not in str(app.query_one("#channel-view .title").render())

        await pilot.press("slash", *"cleo", "escape")  # escape while typing clears it too
        assert members.row_count == 4 and app.focused is app.query_one(ChannelTree)


async def test_slash_on_the_event_tail_filters_the_events() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.query_one("#events").focus()
        await pilot.press("slash", *"leave", "enter")
        assert app.filter_text == "leave" and len(app.visible_events) == 1
        assert app.query_one("#members", DataTable).row_count == 4
        assert app.focused is app.query_one("#events")
        await pilot.press("escape")
        assert app.filter_text == "" and len(app.visible_events) == len(EVENTS)


# -- details ------------------------------------------------------------------------------

def details(app: InspectorApp) -> dict[str, str]:
    assert isinstance(app.screen, DetailsScreen)
    return dict(app.screen.lines)


async def test_enter_on_a_member_opens_its_details() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("slash", *"bob", "enter")  # find bob
        app.query_one("#members").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        shown = details(app)
        assert shown["user"] == "77aa12bb34cc56dd" and shown["name"] == "bob"
        assert shown["channels"] == "/chat/lobby" and shown["age"] == "10m40s"
        assert (shown["queue depth"], shown["frames sent"], shown["dropped"]) == (
            "0", "41", "0")
        assert shown["presence in /chat/lobby"] == "name=bob, status=away, role=member"
        assert shown["joined"] == "/chat/lobby at 16:00:12"
        assert shown["address"] == "127.0.0.1:40119"
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailsScreen)


async def test_enter_on_a_connection_opens_its_details() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        table = await show_connections(pilot)
        table.focus()
        table.move_cursor(row=table.get_row_index("local:90ff81ee72dd63cc"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        shown = details(app)
        assert shown["name"] == "cleo" and shown["endpoint"] == "/api/socket (sse)"
        assert shown["channels"] == "/chat/lobby, /chat/ops"
        assert (shown["queue depth"], shown["frames sent"], shown["dropped"]) == (
            "1", "60", "2")
        assert shown["presence (last seen)"] == "name=cleo, status=online, role=moderator"


# -- names next to ids ----------------------------------------------------------------------

async def test_presence_names_next_to_ids_in_connections_and_events() -> None:
    api = FakeAPI()
    app = make_app(api)
    app.selected = ("/api/socket", "/chat/ops")  # only cleo's presence is polled
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.channel_doc is not None, what="the documents")
        assert api.channel_calls == ["/chat/ops"]
        # bob's presence event named him before his leave event came.
        leave = next(line for line in app.visible_events if " leave " in line)
        assert leave.endswith("user 77aa12bb34cc56dd (bob)")
        table = await show_connections(pilot)
        # The connections' channels' documents were fetched for the names...
        assert "/chat/lobby" in api.channel_calls
        names = dict(zip(column(table, 0), column(table, 1), strict=True))
        assert names == {"3b9c0d1e2…": "ada", "77aa12bb3…": "bob", "90ff81ee7…": "cleo",
                         "d4a5e6f70…": "dan"}
        # ...and the event tail shows them too.
        leave = next(line for line in app.visible_events if " leave " in line)
        assert leave.endswith("user 77aa12bb34cc56dd (bob)")
        assert any(line.endswith("user 3b9c0d1e2f3a4b5c (ada)") for line in app.visible_events)


# -- the tree ---------------------------------------------------------------------------------

class GrowingAPI(FakeAPI):
    """Lists the fixture's channels, then more, in a shuffled order, as a server may."""

    def __init__(self) -> None:
        super().__init__()
        self.more: list[str] = []

    async def channels(self) -> dict[str, Any]:
        extra = [{**CHANNELS["channels"][1], "name": name} for name in self.more]
        return {**CHANNELS, "channels": [*extra[::-1], *CHANNELS["channels"][::-1]]}


def tree_labels(app: InspectorApp) -> list[str]:
    [endpoint] = app.query_one(ChannelTree).root.children
    return [child.data[2] for child in endpoint.children]


async def test_the_tree_keeps_one_order_as_channels_come_and_go() -> None:
    api = GrowingAPI()
    app = make_app(api)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert tree_labels(app) == ["/chat/lobby", "/chat/ops"]
        api.more = ["/chat/room10", "/chat/aaa", "/chat/room2"]
        await app.refresh_data()
        assert tree_labels(app) == ["/chat/aaa", "/chat/lobby", "/chat/ops", "/chat/room2",
                                    "/chat/room10"]
        api.more = ["/chat/room2", "/chat/b"]
        await app.refresh_data()
        assert tree_labels(app) == ["/chat/b", "/chat/lobby", "/chat/ops", "/chat/room2"]


# -- the focus ring ---------------------------------------------------------------------------

async def test_the_focused_pane_has_a_bright_border() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        panes = ["#sidebar", "#views", "#events-pane"]

        def colours() -> list[Any]:
            return [app.query_one(p).styles.border_top[1] for p in panes]

        ring = app.get_css_variables()["accent"]
        assert colours()[0].hex == ring.upper() and colours()[1] == colours()[2]
        app.query_one("#members").focus()
        await pilot.pause()
        assert colours()[1].hex == ring.upper() and colours()[0] == colours()[2]
        app.query_one("#events").focus()
        await pilot.pause()
        assert colours()[2].hex == ring.upper() and colours()[0] == colours()[1]
        assert colours()[0].hex != ring.upper()


def test_a_channel_fetched_for_names_is_not_fetched_again_at_once() -> None:
    book = NameBook(refetch_after=30)
    nameless = [{"user_id": "u1", "endpoint": "/api/socket", "channels": ["/a", "/b"]},
                {"user_id": "u2", "endpoint": "/api/socket", "channels": ["/a"]},
                {"user_id": "u3", "endpoint": "/api/socket", "channels": ["/c"]}]
    assert book.unnamed_channels(nameless, 5, now=0.0) == [("/api/socket", "/a"),
                                                           ("/api/socket", "/c")]
    # The members had no name: the next polls try u1's next channel, then nothing...
    assert book.unnamed_channels(nameless, 5, now=1.0) == [("/api/socket", "/b")]
    assert book.unnamed_channels(nameless, 5, now=2.0) == []
    # ...until the channels may have new members.
    assert book.unnamed_channels(nameless, 1, now=31.0) == [("/api/socket", "/a")]
    book.learn([{"user_id": "u1", "presence": {"name": "ada"}}])
    assert book.unnamed_channels(nameless, 5, now=40.0) == [("/api/socket", "/c")]


async def test_details_say_when_the_connection_is_not_in_the_list() -> None:
    api = FakeAPI()

    async def none_listed(limit: int = 500, sort: str = "age") -> dict[str, Any]:
        return {"connections": [], "total": 12000}

    api.connections = none_listed  # type: ignore[method-assign]
    app = make_app(api)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.query_one("#members").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        shown = details(app)
        assert shown["name"] == "ada" and "queue depth" not in shown
        assert shown["connection"] == "its connection is not among the 500 oldest the server sent"
