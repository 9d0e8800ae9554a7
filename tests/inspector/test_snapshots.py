"""Snapshots of the main screens against fixed documents (:class:`FakeAPI`)."""

from __future__ import annotations

from typing import Any

from pondsocket_tools.inspector.app import InspectorApp
from pondsocket_tools.inspector.screens import DetailsScreen

from .conftest import EVENTS, FakeAPI, wait_for

SIZE = (120, 36)
RATES = [0, 2, 5, 9, 14, 12, 18, 25, 22, 30, 27, 19, 24, 31, 28, 16]


def make_app(**fake: Any) -> InspectorApp:
    # Polled once: the fixed documents and the rates pushed below stay as they are.
    return InspectorApp(FakeAPI(**fake), poll_interval=3600, reconnect_delay=3600)


async def loaded(pilot: Any) -> None:
    app: InspectorApp = pilot.app
    await wait_for(pilot, lambda: app.channel_doc is not None
                   and len(app.visible_events) == len(EVENTS), what="the fake documents")
    for value in RATES:
        app.push_rate(float(value), value / 2, value * 3.0)
    await pilot.pause()


def test_main_screen(snap_compare) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=loaded)


def test_other_channel_and_filter(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        pilot.app.select_channel("/api/socket", "/chat/ops")
        await wait_for(pilot, lambda: (pilot.app.channel_doc or {}).get("name")
                       == "/chat/ops", what="the ops channel")
        pilot.app.query_one("#events").focus()  # / filters the focused pane
        await pilot.press("slash", *"broadcast", "enter")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_connections_view(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("2")
        await wait_for(pilot, lambda: pilot.app.connection_docs, what="the connections")
        pilot.app.query_one("#connections-table").focus()
        await pilot.press("S", "S")  # sorted by frames sent, the focus ring on the view
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_nodes_view_and_follow(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("3", "f")
        await wait_for(pilot, lambda: pilot.app.stream_channel == "/chat/lobby"
                       and pilot.app.events_connected, what="following the lobby")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_member_filter_and_details(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("slash", *"bob", "enter")
        pilot.app.query_one("#members").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, DetailsScreen),
                       what="bob's details")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_confirm_evict(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("e")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_help_screen(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await loaded(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)


def test_wrong_token_screen(snap_compare) -> None:
    async def run_before(pilot: Any) -> None:
        await wait_for(pilot, lambda: pilot.app.state == "denied", what="the denial")
        await pilot.pause()

    assert snap_compare(make_app(denied=True), terminal_size=SIZE, run_before=run_before)
