"""The inspector against a real demo server with the admin API (a subprocess), driven by
Textual's pilot; clients are real WebSocket clients."""

from __future__ import annotations

import asyncio

from pondsocket_tools.inspector.api import AdminClient
from pondsocket_tools.inspector.app import InspectorApp
from pondsocket_tools.inspector.widgets import HelpScreen

from .conftest import TOKEN, DemoServer, free_port, wait_for

SIZE = (120, 40)


def make_app(server: DemoServer, token: str = TOKEN, url: str | None = None) -> InspectorApp:
    return InspectorApp(AdminClient(url or server.admin_url, token), poll_interval=0.2,
                        reconnect_delay=0.2)


def member_names(app: InspectorApp) -> dict[str, dict]:
    doc = app.channel_doc or {}
    return {m["presence"]["name"]: m["presence"] for m in doc.get("members", [])
            if m.get("presence")}


async def test_channels_and_presence_appear_live(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "connected", what="connected")
        ada = await clients(demo, "ada")
        await ada.join("/chat/tree")
        key = ("/api/socket", "/chat/tree")
        await wait_for(pilot, lambda: key in app.channel_docs, what="the channel")
        assert app.channel_docs[key]["member_count"] == 1
        assert key in app._channel_nodes  # in the tree, with its count
        assert "[1]" in str(app._channel_nodes[key].label)

        app.select_channel(*key)
        await wait_for(pilot, lambda: "ada" in member_names(app), what="ada's presence")
        bob = await clients(demo, "bob")
        bob_chat = await bob.join("/chat/tree")
        await wait_for(pilot, lambda: "bob" in member_names(app), what="bob's presence")
        assert app.query_one("#members").row_count == 2
        await bob_chat.send("status", {"status": "away"})
        await wait_for(pilot, lambda: member_names(app)["bob"].get("status") == "away",
                       what="bob's presence update")
        await wait_for(pilot, lambda: "[2]" in str(app._channel_nodes[key].label),
                       what="the member count in the tree")
        await bob.close()
        await wait_for(pilot, lambda: "bob" not in member_names(app), what="bob leaving")


async def test_event_tail_filter_and_pause(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.events_connected, what="the event stream")
        ada = await clients(demo, "ada")
        lobby = await ada.join("/chat/tail-a")
        other = await ada.join("/chat/tail-b")
        await lobby.send("message", {"text": "hello"})
        await other.send("message", {"text": "other"})
        await wait_for(pilot, lambda: any("broadcast" in line and "/chat/tail-b" in line
                                          for line in app.visible_events), what="broadcasts")
        assert any("broadcast" in line and "/chat/tail-a" in line and "message" in line
                   for line in app.visible_events)
        assert any(line.split()[1] == "join" for line in app.visible_events)

        await pilot.press("slash")
        await pilot.press(*"tail-a")
        await wait_for(pilot, lambda: app.filter_text == "tail-a", what="the filter")
        assert app.visible_events
        assert all("/chat/tail-a" in line for line in app.visible_events)
        await pilot.press("escape")  # back to the tree: keys are bindings again

        await pilot.press("p")
        assert app.paused
        shown = len(app.visible_events)
        await lobby.send("message", {"text": "while paused"})
        await wait_for(pilot, lambda: sum(e.get("type") == "broadcast"
                                          and e["channel"] == "/chat/tail-a"
                                          for e in app.events) == 2, what="a paused event")
        assert len(app.visible_events) == shown
        await pilot.press("p")
        assert not app.paused and len(app.visible_events) == shown + 1


async def test_wrong_token_is_reported(demo) -> None:
    app = make_app(demo, token="wrong")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "denied", what="the denial")
        assert "403" in app.status_message and "wrong token" in app.status_message
        assert "--token" in str(app.query_one("#status").render())


async def test_missing_token_is_reported(demo) -> None:
    app = make_app(demo, token="")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "denied", what="the denial")
        assert "401" in app.status_message and "no token" in app.status_message


async def test_unreachable_then_reconnects_after_restart(make_demo) -> None:
    port = free_port()
    app = InspectorApp(AdminClient(f"http://127.0.0.1:{port}/_pond/admin", TOKEN),
                       poll_interval=0.1, reconnect_delay=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "unreachable", what="unreachable")
        assert "cannot reach" in app.status_message
        server = await asyncio.to_thread(make_demo, port)
        await wait_for(pilot, lambda: app.state == "connected" and app.events_connected,
                       timeout=10, what="connected")
        await asyncio.to_thread(server.stop)
        await wait_for(pilot, lambda: app.state == "reconnecting", what="reconnecting")
        assert "reconnecting..." in app.status_message
        await asyncio.to_thread(server.start)
        await wait_for(pilot, lambda: app.state == "connected" and app.events_connected,
                       timeout=10, what="reconnected")


async def test_help_screen(demo) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
