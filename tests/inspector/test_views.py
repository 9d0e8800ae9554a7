"""The inspector's pieces without a server: rates from counters, event lines, the help
text, and the app against an older server's documents."""

from __future__ import annotations

from textual.binding import Binding
from textual.keys import format_key, key_to_character

from pondsocket_tools.inspector.app import MEMBER_PAGE, InspectorApp
from pondsocket_tools.inspector.formatting import event_line
from pondsocket_tools.inspector.screens import HELP
from pondsocket_tools.inspector.views import CounterRates, RatesPanel

from .conftest import EVENTS, NODE, PEER, FakeAPI, wait_for


def test_counter_rates_average_over_the_window_and_survive_a_restart() -> None:
    rates = CounterRates(window=2)
    assert rates.update(0.0, {"messages_broadcast": 0}) is None
    assert rates.update(1.0, {"messages_broadcast": 10})["messages_broadcast"] == 10
    # A poll without traffic does not drop the rate to zero: it spans the window.
    assert rates.update(2.0, {"messages_broadcast": 10})["messages_broadcast"] == 5
    assert rates.update(3.0, {"messages_broadcast": 10})["messages_broadcast"] == 0
    # The server restarted (counters went down): start again, never negative.
    assert rates.update(4.0, {"messages_broadcast": 2}) is None
    assert rates.update(5.0, {"messages_broadcast": 6})["messages_broadcast"] == 4


def test_event_line_names_other_nodes_only() -> None:
    local, remote = EVENTS[0], {**EVENTS[0], "node": PEER}
    assert "@" not in event_line(local, NODE)
    assert f"@{PEER[:9]}" in event_line(remote, NODE)
    assert "@" not in event_line(remote, None)  # this node not known yet


def test_help_screen_lists_every_key_the_app_binds() -> None:
    # A key missing from the help (as ] [ and h once were) is one nobody finds.
    for binding in InspectorApp.BINDINGS:
        assert isinstance(binding, Binding)
        for key in binding.key.split(","):
            shown = {key, format_key(key), key_to_character(key)}
            assert any(f"[cyan]{name}[/]" in HELP for name in shown if name), key
    assert f"({MEMBER_PAGE} a page)" in HELP


async def test_older_server_without_rates_and_nodes() -> None:
    app = InspectorApp(FakeAPI(legacy=True), poll_interval=3600, reconnect_delay=3600)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.channel_doc is not None, what="the documents")
        assert "msg/s" not in str(app.query_one("#channel-view .title").render())
        await pilot.press("3")
        nodes = app.query_one("#nodes-table")
        assert nodes.row_count == 1 and nodes.get_row_at(0)[0].plain == NODE[:9] + "…"
        assert "this node only" in str(app.query_one("#nodes-view .title").render())
        await app.refresh_data()  # a second poll: rates from the (unchanged) counters
        assert list(app.query_one(RatesPanel).broadcasts) == [0.0]


async def test_connections_view_says_when_the_server_cut_the_list() -> None:
    from .conftest import CONNECTIONS

    api = FakeAPI()
    first = CONNECTIONS["connections"][:1]

    async def cut(limit: int = 500, sort: str = "age") -> dict:
        return {"connections": first, "total": 1200}

    api.connections = cut  # type: ignore[method-assign]
    app = InspectorApp(api, poll_interval=3600, reconnect_delay=3600)
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_for(pilot, lambda: app.channel_doc is not None, what="the documents")
        await pilot.press("2")
        await wait_for(pilot, lambda: app.connection_docs == first, what="the connections")
        title = str(app.query_one("#connections-view .title").render())
        assert "first 1 of 1200 connections by age" in title
