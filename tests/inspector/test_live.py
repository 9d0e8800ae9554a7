"""The inspector against a real demo server with the admin API (a subprocess), driven by
Textual's pilot; clients are real WebSocket clients."""

from __future__ import annotations

import asyncio

from textual.worker import WorkerState

from pondsocket_tools.client.errors import EvictedError
from pondsocket_tools.inspector.api import AdminClient
from pondsocket_tools.inspector.app import WRITES_DISABLED_HINT, InspectorApp
from pondsocket_tools.inspector.screens import ConfirmScreen, DetailsScreen, HelpScreen
from pondsocket_tools.inspector.views import ChannelTree

from .conftest import TOKEN, DemoServer, free_port, wait_for

SIZE = (120, 40)


def make_app(server: DemoServer, token: str = TOKEN, url: str | None = None) -> InspectorApp:
    return InspectorApp(AdminClient(url or server.admin_url, token), poll_interval=0.2,
                        reconnect_delay=0.2)


def member_names(app: InspectorApp) -> dict[str, dict]:
    doc = app.channel_doc or {}
    return {m["presence"]["name"]: m["presence"] for m in doc.get("members", [])
            if m.get("presence")}


def member_id(app: InspectorApp, name: str) -> str:
    return next(m["user_id"] for m in (app.channel_doc or {}).get("members", [])
                if (m.get("presence") or {}).get("name") == name)


async def select(pilot, app: InspectorApp, name: str, members: int = 1) -> None:
    """Select channel ``name`` of the demo and wait for its ``members``."""
    await wait_for(pilot, lambda: ("/api/socket", name) in app.channel_docs, what=name)
    app.select_channel("/api/socket", name)
    await wait_for(pilot, lambda: (app.channel_doc or {}).get("name") == name
                   and app.query_one("#members").row_count == members,
                   what=f"the members of {name}")


def broadcasts(events, channel: str) -> int:
    return sum(e.get("type") == "broadcast" and e.get("channel") == channel for e in events)


async def test_channels_and_presence_appear_live(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.state == "connected", what="connected")
        ada = await clients(demo, "ada")
        await ada.join("/chat/tree")
        key = ("/api/socket", "/chat/tree")
        await wait_for(pilot, lambda: key in app.channel_docs, what="the channel")
        assert app.channel_docs[key]["member_count"] == 1
        tree = app.query_one(ChannelTree)
        assert key in tree.channel_nodes  # in the tree, with its count
        assert "[1]" in str(tree.channel_nodes[key].label)

        app.select_channel(*key)
        await wait_for(pilot, lambda: "ada" in member_names(app), what="ada's presence")
        bob = await clients(demo, "bob")
        bob_chat = await bob.join("/chat/tree")
        await wait_for(pilot, lambda: "bob" in member_names(app), what="bob's presence")
        assert app.query_one("#members").row_count == 2
        await bob_chat.send("status", {"status": "away"})
        await wait_for(pilot, lambda: member_names(app)["bob"].get("status") == "away",
                       what="bob's presence update")
        await wait_for(pilot, lambda: "[2]" in str(tree.channel_nodes[key].label),
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

        app.query_one("#events").focus()  # / filters the focused pane
        await pilot.press("slash")
        await pilot.press(*"tail-a")
        await wait_for(pilot, lambda: app.filter_text == "tail-a", what="the filter")
        assert app.visible_events
        assert all("/chat/tail-a" in line for line in app.visible_events)
        await pilot.press("enter")  # keeps the filter; keys are bindings again

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


async def test_connections_view_lists_clients(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(demo, "ada")
        await ada.join("/chat/conns")
        await wait_for(pilot, lambda: app.state == "connected", what="connected")
        assert app.connection_docs == []  # fetched only while the view is shown
        await pilot.press("2")
        await wait_for(pilot, lambda: any("/chat/conns" in c["channels"]
                                          for c in app.connection_docs),
                       what="ada's connection")
        doc = next(c for c in app.connection_docs if "/chat/conns" in c["channels"])
        assert doc["transport"] == "websocket" and doc["endpoint"] == "/api/socket"
        table = app.query_one("#connections-table")
        key = f"local:{doc['user_id']}"
        row = [str(cell) for cell in table.get_row(key)]
        assert row[3] == "/api/socket (ws)" and row[4].startswith("1: /chat/co")
        # Its presence name, learned from the channel's document, next to the id.
        await wait_for(pilot, lambda: str(table.get_row(key)[1]) == "ada", what="ada's name")
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one("#nodes-table").row_count == 1,
                       what="the node")


async def test_evict_member_after_confirmation(writes_demo, clients) -> None:
    app = make_app(writes_demo)
    async with app.run_test(size=SIZE) as pilot:
        ada, bob = await clients(writes_demo, "ada"), await clients(writes_demo, "bob")
        await ada.join("/chat/evict")
        bob_chat = await bob.join("/chat/evict")
        await select(pilot, app, "/chat/evict", members=2)
        table = app.query_one("#members")
        table.move_cursor(row=table.get_row_index(member_id(app, "bob")))

        await pilot.press("e")
        assert isinstance(app.screen, ConfirmScreen) and "bob" in app.screen.question
        await pilot.press("n")  # declined: nothing happens
        assert not isinstance(app.screen, ConfirmScreen) and app.last_write == ""

        await pilot.press("e", "y")
        await wait_for(pilot, lambda: bob_chat.is_closed, what="bob evicted")
        assert isinstance(bob_chat.closed_reason, EvictedError)
        await wait_for(pilot, lambda: set(member_names(app)) == {"ada"}, what="bob gone")
        assert app.last_write.startswith("evicted ") and "/chat/evict" in app.last_write


async def test_close_channel_after_confirmation(writes_demo, clients) -> None:
    app = make_app(writes_demo)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(writes_demo, "ada")
        chat = await ada.join("/chat/close")
        await select(pilot, app, "/chat/close")
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen) and "/chat/close" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: chat.is_closed, what="the channel closed")
        await wait_for(pilot, lambda: ("/api/socket", "/chat/close") not in app.channel_docs,
                       what="the channel gone from the tree")
        assert app.last_write == "closed /chat/close"


async def test_write_actions_refused_without_allow_writes(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(demo, "ada")
        chat = await ada.join("/chat/readonly")
        await select(pilot, app, "/chat/readonly")
        await pilot.press("e", "y")
        await wait_for(pilot, lambda: app.last_write == WRITES_DISABLED_HINT,
                       what="the refusal")
        assert any(n.message == WRITES_DISABLED_HINT and n.severity == "error"
                   for n in app._notifications)
        app.last_write = ""
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: app.last_write == WRITES_DISABLED_HINT,
                       what="the refusal to close")
        assert chat.is_joined


async def test_follow_reopens_the_stream_with_the_channel_filter(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(demo, "ada")
        followed = await ada.join("/chat/follow-a")
        other = await ada.join("/chat/follow-b")
        other_messages = other.messages("message")
        await select(pilot, app, "/chat/follow-a")
        await wait_for(pilot, lambda: app.events_connected, what="the event stream")

        await pilot.press("f")
        await wait_for(pilot, lambda: app.stream_channel == "/chat/follow-a"
                       and app.events_connected, what="the filtered stream")
        assert "following /chat/follow-a" in str(app.query_one("#events-title").render())
        start = len(app.events)
        await other.send("message", {"text": "not followed"})
        await other_messages.get(timeout=5)  # broadcast: the server has seen it
        await followed.send("message", {"text": "followed"})
        await wait_for(pilot, lambda: broadcasts(list(app.events)[start:], "/chat/follow-a"),
                       what="the followed channel's broadcast")
        assert not broadcasts(list(app.events)[start:], "/chat/follow-b")
        assert all("/chat/follow-a" in line for line in app.visible_events)

        app.select_channel("/api/socket", "/chat/follow-b")  # following moves along
        await wait_for(pilot, lambda: app.stream_channel == "/chat/follow-b"
                       and app.events_connected, what="following the other channel")

        await pilot.press("f")
        await wait_for(pilot, lambda: app.stream_channel is None and app.events_connected,
                       what="the unfiltered stream")
        start = len(app.events)
        await followed.send("message", {"text": "everything again"})
        await wait_for(pilot, lambda: broadcasts(list(app.events)[start:], "/chat/follow-a"),
                       what="events of every channel")


class ClosingClient(AdminClient):
    """Records which of the app's workers are still alive when the app closes its client."""

    app: InspectorApp
    alive_at_close: list[str] | None = None

    async def aclose(self) -> None:
        self.alive_at_close = [w.name for w in self.app.workers
                               if w.state in (WorkerState.PENDING, WorkerState.RUNNING)]
        await super().aclose()


async def test_exit_stops_every_worker_before_closing_the_client(demo, clients) -> None:
    # A worker still polling when the client closed failed the app with "Cannot send a
    # request, as the client has been closed".
    api = ClosingClient(demo.admin_url, TOKEN)
    app = api.app = InspectorApp(api, poll_interval=0.01, reconnect_delay=0.01)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(demo, "ada")
        await ada.join("/chat/exit")
        await select(pilot, app, "/chat/exit")
        await wait_for(pilot, lambda: app.events_connected, what="the event stream")
    assert api.alive_at_close == []


async def test_member_details_show_its_connection(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(demo, "ada")
        await ada.join("/chat/details")
        await ada.join("/chat/details-2")
        await select(pilot, app, "/chat/details")
        app.query_one("#members").focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="details")
        shown = dict(app.screen.lines)
        assert shown["user"] == ada.user_id and shown["name"] == "ada"
        assert shown["channels"] == "/chat/details, /chat/details-2"
        assert shown["endpoint"] == "/api/socket (websocket)"
        assert int(shown["frames sent"]) > 0 and shown["dropped"] == "0"
        assert "name=ada" in shown["presence in /chat/details"]


async def test_h_shows_the_selected_channels_recent_history(demo, clients) -> None:
    app = make_app(demo)
    async with app.run_test(size=SIZE) as pilot:
        ada = await clients(demo, "ada")
        chat = await ada.join("/chat/history")
        inbox = chat.messages("message")
        for text in ("one", "two"):
            await chat.send("message", {"text": text})
            await inbox.get(5.0)  # stored once it came back
        await select(pilot, app, "/chat/history")
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen), what="history")
        shown = dict(app.screen.lines)
        assert shown["channel"] == "/chat/history" and shown["offset"] == "2"
        assert '"text":"one"' in shown["#1"] and '"text":"two"' in shown["#2"]
