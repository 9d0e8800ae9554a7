"""The public API: every upstream name imports from ``pondsocket``; the README example runs."""

from __future__ import annotations

import importlib
import inspect
import textwrap

import pytest

import pondsocket
from pondsocket import IncomingConnection, InMemoryTransport
from tests.core.helpers import event_msg, frames, join_msg

UPSTREAM_NAMES = [
    "PondSocket", "Endpoint", "Lobby", "Channel", "Options", "EndpointMatch", "Event", "User",
    "UserData", "MessageEvent", "Route", "RecipientSpec", "AllUsers", "AllExceptSender", "ToUsers",
    "ConnectionContext", "JoinContext", "EventContext", "OutgoingContext", "LeaveContext",
    "ConnectionDecision", "Transport", "PushableTransport", "InMemoryTransport",
    "SSEServerTransport", "TransportType", "OnCloseCallback", "OnMessageHandler", "PubSub",
    "LocalPubSub", "PubSubClosedError", "format_topic", "format_heartbeat_topic",
    "format_message_topic", "format_presence_topic", "format_system_topic", "match_topic", "Hooks",
    "RateLimiter", "MetricsCollector", "NoopMetrics", "TokenBucketRateLimiter",
    "with_rate_limiter", "with_metrics", "event_to_json", "event_to_wire", "parse_inbound_text",
    "wire_to_event", "event_to_pubsub_bytes", "pubsub_bytes_to_event", "PondError", "MultiError",
    "bad_request", "unauthorized", "forbidden", "not_found", "conflict", "too_many_requests",
    "internal", "error_event", "Middleware", "PresenceClient", "Store", "parse", "SystemEvents",
    "SystemEntity", "InternalActions", "DistributedMessageType", "LeaveReason", "ServerActions",
    "PresenceEventTypes", "ChannelReceiver", "TypedLobby", "TypedJoinContext", "TypedEventContext",
    "TypedChannel", "typed_lobby", "to_pond_object", "PondEvent", "PondSchema",
]


@pytest.mark.parametrize("name", UPSTREAM_NAMES)
def test_upstream_name_is_importable(name):
    module = importlib.import_module("pondsocket")
    assert getattr(module, name) is not None
    assert name in pondsocket.__all__


def test_every_exported_name_exists():
    missing = [name for name in pondsocket.__all__ if not hasattr(pondsocket, name)]
    assert missing == []
    assert len(set(pondsocket.__all__)) == len(pondsocket.__all__)


def test_context_and_handler_shapes():
    # Handlers are coroutines taking the context; the deciding calls are awaitable where
    # upstream awaits them.
    assert inspect.iscoroutinefunction(pondsocket.JoinContext.accept)
    assert inspect.iscoroutinefunction(pondsocket.JoinContext.decline)
    assert inspect.iscoroutinefunction(pondsocket.EventContext.reply)
    assert not inspect.iscoroutinefunction(pondsocket.ConnectionContext.accept)
    assert pondsocket.LeaveReason.EXPLICIT_LEAVE == "explicit_leave"
    assert {a.value for a in pondsocket.ServerActions} == {
        "PRESENCE", "SYSTEM", "BROADCAST", "ERROR", "CONNECT"}


# The "Minimal example" of the upstream README, verbatim.
README_EXAMPLE = textwrap.dedent('''
    from pondsocket import ConnectionContext, EventContext, JoinContext, PondSocket


    async def auth(ctx: ConnectionContext) -> None:
        if ctx.query.get("token") != "secret":
            ctx.decline(401, "Invalid token")
            return
        ctx.accept(user_id=ctx.query.get("uid", "anon"))


    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()
        await ctx.track({"status": "online"})


    async def on_message(ctx: EventContext) -> None:
        await ctx.broadcast(ctx.event_name, ctx.get_payload())


    pond = PondSocket()
    endpoint = pond.create_endpoint("/api/socket", auth)
    lobby = endpoint.create_channel("/chat/:room_id", on_join)
    lobby.on_message("message", on_message)
''')


async def test_readme_minimal_example_serves_traffic():
    namespace: dict = {}
    exec(compile(README_EXAMPLE, "README.md", "exec"), namespace)
    pond, endpoint, lobby = namespace["pond"], namespace["endpoint"], namespace["lobby"]
    try:
        match = pond.match_endpoint("/api/socket?token=secret&uid=alice")
        assert match is not None and match.endpoint is endpoint

        refused = await endpoint.request_connection(
            IncomingConnection("x", "127.0.0.1", query={"token": "wrong"}))
        assert refused.decline_info == (401, "Invalid token")

        clients = {}
        for uid in ("c1", "c2"):
            ctx = await endpoint.request_connection(
                IncomingConnection(uid, "127.0.0.1", query={"token": "secret", "uid": uid}))
            assert ctx.is_accepted and ctx.assigns == {"user_id": uid}
            transport = InMemoryTransport(uid, assigns=ctx.assigns)
            await endpoint.register_transport(transport, ctx)
            clients[uid] = transport
        c1, c2 = clients["c1"], clients["c2"]

        await c1.push_inbound(join_msg("/chat/1", request_id="j1"))
        await c2.push_inbound(join_msg("/chat/1", request_id="j2"))
        await c1.push_inbound(event_msg("/chat/1", "message", {"text": "hi"}, request_id="m"))

        got1, got2 = await frames(c1), await frames(c2)
        assert [(f["action"], f["event"]) for f in got1] == [
            ("CONNECT", "CONNECTION"), ("SYSTEM", "ACKNOWLEDGE"), ("PRESENCE", "JOIN"),
            ("PRESENCE", "JOIN"), ("BROADCAST", "message")]
        assert [(f["action"], f["event"]) for f in got2] == [
            ("CONNECT", "CONNECTION"), ("SYSTEM", "ACKNOWLEDGE"), ("PRESENCE", "JOIN"),
            ("BROADCAST", "message")]
        assert got2[2]["payload"] == {"presence": [{"status": "online"}] * 2,
                                      "changed": {"status": "online"}}
        assert got1[-1]["payload"] == got2[-1]["payload"] == {"text": "hi"}
        assert got1[-1]["requestId"] == got2[-1]["requestId"] != "m"
        channel = await lobby.get_channel("/chat/1")
        assert (await channel.get_assigns())["c1"] == {"user_id": "c1"}
    finally:
        await pond.close()
