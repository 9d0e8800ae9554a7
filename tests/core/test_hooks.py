"""Lifecycle hooks and metrics: every documented hook and metric fires."""

from __future__ import annotations

import pytest

from pondsocket import (
    ConnectionContext,
    EventContext,
    Hooks,
    IncomingConnection,
    MetricsCollector,
    NoopMetrics,
    Options,
    PondError,
    forbidden,
    with_metrics,
)
from tests.core.helpers import (
    RecordingMetrics,
    accept_and_track,
    connect,
    event_msg,
    frames,
    join,
    join_msg,
    only,
)


def test_recording_metrics_and_noop_satisfy_the_protocol():
    assert isinstance(NoopMetrics(), MetricsCollector)
    metrics = RecordingMetrics()
    for name in ("connection_opened", "connection_closed", "connection_error",
                 "message_received", "message_sent", "message_broadcast", "channel_joined",
                 "channel_left", "channel_created", "channel_destroyed", "handler_duration",
                 "queue_depth", "error"):
        assert callable(getattr(metrics, name))


@pytest.fixture
def recorded():
    return []


@pytest.fixture
def hooks(recorded):
    async def on_connect(transport) -> None:
        recorded.append(("on_connect", transport.get_id()))

    async def on_disconnect(transport) -> None:
        recorded.append(("on_disconnect", transport.get_id()))

    async def before_join(user, channel_name) -> None:
        recorded.append(("before_join", user.id, channel_name, dict(user.assigns)))
        if channel_name.endswith("/forbidden"):
            raise forbidden(channel_name, "not you")
        if channel_name.endswith("/broken"):
            raise RuntimeError("hook bug")

    async def after_join(user, channel_name) -> None:
        recorded.append(("after_join", user.id, channel_name, user.presence))

    async def before_message(event) -> None:
        recorded.append(("before_message", event.event, event.request_id))
        if event.event == "vetoed":
            raise PondError("vetoed by hook", 451)

    async def after_message(event, error) -> None:
        recorded.append(("after_message", event.event, type(error).__name__ if error else None))

    return Hooks(metrics=RecordingMetrics(), on_connect=on_connect,
                 on_disconnect=on_disconnect, before_join=before_join, after_join=after_join,
                 before_message=before_message, after_message=after_message)


@pytest.fixture
def server(make_pond, hooks):
    pond = make_pond(Options(hooks=hooks))

    async def auth(ctx: ConnectionContext) -> None:
        if ctx.query.get("crash"):
            raise RuntimeError("auth crashed")
        ctx.accept(role="user")

    endpoint = pond.create_endpoint("/socket", auth)
    lobby = endpoint.create_channel("/chat/:room", accept_and_track)

    async def echo(ctx: EventContext) -> None:
        await ctx.broadcast("echo", ctx.payload)

    async def fail(ctx: EventContext) -> None:
        raise ValueError("handler bug")

    lobby.on_message("echo", echo)
    lobby.on_message("fail", fail)
    lobby.on_message("vetoed", echo)
    return endpoint


async def test_connect_and_disconnect_hooks(server, recorded):
    alice = await connect(server, "alice")
    assert recorded == [("on_connect", "alice")]
    alice.disconnect()
    await alice.wait_closed()
    assert recorded[-1] == ("on_disconnect", "alice")


async def test_join_hooks(server, recorded):
    alice = await connect(server, "alice")
    await join(alice, "/chat/1", {"name": "al"})
    assert recorded[1:] == [("before_join", "alice", "/chat/1", {"role": "user"}),
                            ("after_join", "alice", "/chat/1", {"name": "al"})]


async def test_before_join_raising_pond_error_declines(server, recorded):
    alice = await connect(server, "alice")
    await alice.push_inbound(join_msg("/chat/forbidden", request_id="j"))
    frame = only(await frames(alice))
    assert (frame["event"], frame["requestId"], frame["payload"]) == (
        "UNAUTHORIZED", "j", {"code": 403, "message": "not you"})
    assert [r[0] for r in recorded] == ["on_connect", "before_join"]  # no after_join


async def test_before_join_raising_anything_else_declines_500(server):
    alice = await connect(server, "alice")
    await alice.push_inbound(join_msg("/chat/broken"))
    frame = only(await frames(alice))
    assert frame["payload"]["code"] == 500
    assert "hook bug" not in frame["payload"]["message"]


async def test_message_hooks(server, recorded):
    alice = await connect(server, "alice")
    await join(alice, "/chat/1")
    recorded.clear()
    await alice.push_inbound(event_msg("/chat/1", "echo", request_id="m1"))
    await alice.push_inbound(event_msg("/chat/1", "fail", request_id="m2"))
    assert recorded == [("before_message", "echo", "m1"), ("after_message", "echo", None),
                        ("before_message", "fail", "m2"),
                        ("after_message", "fail", "ValueError")]


async def test_before_message_raising_refuses_the_message(server, recorded):
    alice = await connect(server, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "vetoed", request_id="v"))
    frame = only(await frames(alice))  # an error, and no echo: the handler did not run
    assert (frame["action"], frame["requestId"], frame["payload"]["code"]) == ("ERROR", "v", 451)
    assert recorded[-1] == ("after_message", "vetoed", "PondError")


async def test_failing_lifecycle_hooks_do_not_break_the_server(make_pond):
    async def broken(*args) -> None:
        raise RuntimeError("hook bug")

    pond = make_pond(Options(hooks=Hooks(on_connect=broken, after_join=broken,
                                         after_message=broken, on_disconnect=broken)))
    endpoint = pond.create_endpoint("/socket", _accept)
    lobby = endpoint.create_channel("/chat/:room", accept_and_track)

    async def ping(ctx: EventContext) -> None:
        await ctx.reply("pong", {})

    lobby.on_message("ping", ping)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "ping"))
    assert only(await frames(alice))["event"] == "pong"
    alice.disconnect()
    await alice.wait_closed()
    assert await endpoint.connection_count() == 0


async def _accept(ctx) -> None:
    ctx.accept()


async def test_metrics_see_the_whole_lifecycle(server, hooks):
    metrics = hooks.metrics
    alice = await connect(server, "alice")
    bob = await connect(server, "bob")
    await join(alice, "/chat/1")
    await join(bob, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "echo", {"x": 1}))
    await alice.push_inbound(event_msg("/chat/1", "fail"))
    await frames(alice)
    await frames(bob)
    for transport in (alice, bob):
        transport.disconnect()
        await transport.wait_closed()
    calls = metrics.calls
    assert calls["connection_opened"] == [("alice", "/socket"), ("bob", "/socket")]
    assert [c[0] for c in calls["connection_closed"]] == ["alice", "bob"]
    assert all(duration >= 0 for _, duration in calls["connection_closed"])
    assert calls["channel_created"] == [("/chat/1",)]
    assert calls["channel_destroyed"] == [("/chat/1",)]
    assert calls["channel_joined"] == [("alice", "/chat/1"), ("bob", "/chat/1")]
    assert sorted(calls["channel_left"]) == [("alice", "/chat/1"), ("bob", "/chat/1")]
    received = [(c[0], c[1], c[2]) for c in calls["message_received"]]
    assert received == [("alice", "/chat/1", "JOIN_CHANNEL"), ("bob", "/chat/1", "JOIN_CHANNEL"),
                        ("alice", "/chat/1", "echo"), ("alice", "/chat/1", "fail")]
    assert all(size > 0 for *_, size in calls["message_received"])
    sent = [(c[0], c[1], c[2]) for c in calls["message_sent"]]
    assert ("alice", "GATEWAY", "CONNECTION") in sent
    assert ("alice", "/chat/1", "ACKNOWLEDGE") in sent
    assert sent.count(("bob", "/chat/1", "echo")) == 1
    assert sent.count(("alice", "/chat/1", "INTERNAL_SERVER_ERROR")) == 1
    assert ("/chat/1", "echo", 2) in calls["message_broadcast"]
    durations = {name for name, _ in calls["handler_duration"]}
    assert {"join:/chat/:room", "/chat/:room:echo", "/chat/:room:fail"} <= durations
    assert [(component, type(err).__name__) for component, err in calls["error"]] == [
        ("event_handler", "ValueError")]


async def test_metrics_see_connection_handler_crashes(server, hooks):
    ctx = await server.request_connection(IncomingConnection("c", "1.1.1.1",
                                                             query={"crash": "1"}))
    assert ctx.is_declined
    [(conn_id, err)] = hooks.metrics.calls["connection_error"]
    assert conn_id == "c" and isinstance(err, RuntimeError)


async def test_with_metrics_middleware_reports_per_channel_and_errors(make_pond):
    metrics = RecordingMetrics()
    hooks = Hooks(metrics=metrics)
    pond = make_pond()
    endpoint = pond.create_endpoint("/socket", _accept)
    lobby = endpoint.create_channel("/chat/:room", accept_and_track)

    async def ok(ctx: EventContext) -> None:
        await ctx.reply("ok", {})

    async def bad(ctx: EventContext) -> None:
        raise PondError("nope", 400)

    lobby.on_message("ok", ok, with_metrics(hooks))
    lobby.on_message("bad", bad, with_metrics(hooks))
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/7")
    await alice.push_inbound(event_msg("/chat/7", "ok"))
    await alice.push_inbound(event_msg("/chat/7", "bad"))
    assert [f["event"] for f in await frames(alice)] == ["ok", "CHANNEL_ERROR"]
    assert [name for name, _ in metrics.calls["handler_duration"]] == ["/chat/7:ok",
                                                                        "/chat/7:bad"]
    assert [(c, type(e).__name__) for c, e in metrics.calls["error"]] == [
        ("handler", "PondError")]
