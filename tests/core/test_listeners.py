"""A listener attached to a server hears every lifecycle moment, in order; a failing
listener is logged and changes nothing for the clients or the other listeners."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pondsocket import EventContext, JoinContext, PondListener, PondSocket
from tests.core.helpers import accept_connection, connect, event_msg, frames, join, leave_msg


class Recorder(PondListener):
    """Records each call as a tuple of its method name and the essentials."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def connection_opened(self, endpoint_path: str, user_id: str) -> None:
        self.calls.append(("connection_opened", endpoint_path, user_id))

    def connection_closed(self, endpoint_path: str, user_id: str, duration: float) -> None:
        assert duration >= 0
        self.calls.append(("connection_closed", endpoint_path, user_id))

    def channel_opened(self, channel: Any) -> None:
        self.calls.append(("channel_opened", channel.name))

    def channel_closed(self, channel: Any) -> None:
        self.calls.append(("channel_closed", channel.name))

    def member_joined(self, channel: Any, member: Any) -> None:
        self.calls.append(("member_joined", channel.name, member.user_id))

    def member_left(self, channel: Any, user_id: str) -> None:
        self.calls.append(("member_left", channel.name, user_id))

    def presence_changed(self, channel: Any, user_id: str, kind: str, presence: Any, *,
                         local: bool) -> None:
        self.calls.append(("presence_changed", channel.name, user_id, str(kind),
                           dict(presence), local))

    def assigns_changed(self, channel: Any, user_id: str, assigns: Any) -> None:
        self.calls.append(("assigns_changed", channel.name, user_id, dict(assigns)))

    def broadcast_sent(self, channel: Any, event: str, payload: Any, recipients: Any,
                       request_id: str, delivered: int) -> None:
        self.calls.append(("broadcast_sent", channel.name, event, dict(payload), delivered))

    def handler_failed(self, channel: Any, user_id: str, event: str, code: int,
                       message: str) -> None:
        self.calls.append(("handler_failed", channel.name, user_id, event, code))

    def server_closing(self) -> None:
        self.calls.append(("server_closing",))


def chat(pond: PondSocket) -> None:
    async def join_room(ctx: JoinContext) -> None:
        await ctx.accept()
        await ctx.track({"name": ctx.user_id})

    async def shout(ctx: EventContext) -> None:
        await ctx.channel.update_assigns(ctx.user.id, {"shouted": True})
        await ctx.broadcast("shout", ctx.event.payload)

    lobby = pond.create_endpoint("/socket", accept_connection).create_channel(
        "/room/:id", join_room)
    lobby.on_message("shout", shout)


async def test_a_listener_hears_the_whole_lifecycle_in_order(make_pond: Any) -> None:
    pond = make_pond()
    chat(pond)
    recorder = Recorder()
    pond.attach(recorder)
    endpoint = pond.endpoints[0]
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    await join(alice, "/room/1")
    await join(bob, "/room/1")
    await alice.push_inbound(event_msg("/room/1", "shout", {"text": "hi"}))
    await alice.push_inbound(event_msg("/room/1", "nope"))
    await frames(alice)
    await bob.push_inbound(leave_msg("/room/1"))
    await frames(bob)
    alice.disconnect()
    await alice.wait_closed()
    await pond.close()

    assert recorder.calls == [
        ("connection_opened", "/socket", "alice"),
        ("connection_opened", "/socket", "bob"),
        ("channel_opened", "/room/1"),
        ("member_joined", "/room/1", "alice"),
        ("presence_changed", "/room/1", "alice", "JOIN", {"name": "alice"}, True),
        ("member_joined", "/room/1", "bob"),
        ("presence_changed", "/room/1", "bob", "JOIN", {"name": "bob"}, True),
        ("assigns_changed", "/room/1", "alice", {"shouted": True}),
        ("broadcast_sent", "/room/1", "shout", {"text": "hi"}, 2),
        ("handler_failed", "/room/1", "alice", "nope", 404),
        ("presence_changed", "/room/1", "bob", "LEAVE", {"name": "bob"}, True),
        ("member_left", "/room/1", "bob"),
        ("presence_changed", "/room/1", "alice", "LEAVE", {"name": "alice"}, True),
        ("member_left", "/room/1", "alice"),
        ("channel_closed", "/room/1"),
        ("connection_closed", "/socket", "alice"),
        ("server_closing",),
        ("connection_closed", "/socket", "bob"),
    ]


async def test_a_failing_listener_is_logged_and_the_others_still_hear(
        make_pond: Any, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(PondListener):
        def member_joined(self, channel: Any, member: Any) -> None:
            raise RuntimeError("listener bug")

    pond = make_pond()
    chat(pond)
    recorder = Recorder()
    pond.attach(Broken())
    pond.attach(recorder)
    alice = await connect(pond.endpoints[0], "alice")
    with caplog.at_level(logging.ERROR, "pondsocket.listeners"):
        got = await join(alice, "/room/1")
    assert [f["event"] for f in got] == ["ACKNOWLEDGE", "JOIN"]  # the client saw nothing odd
    assert ("member_joined", "/room/1", "alice") in recorder.calls
    assert "listener bug" in caplog.text


async def test_a_detached_listener_hears_nothing_more(make_pond: Any) -> None:
    pond = make_pond()
    chat(pond)
    recorder = Recorder()
    pond.attach(recorder)
    pond.attach(recorder)  # attaching twice tells it once
    await connect(pond.endpoints[0], "alice")
    pond.detach(recorder)
    await connect(pond.endpoints[0], "bob")
    assert recorder.calls == [("connection_opened", "/socket", "alice")]
