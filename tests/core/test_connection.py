"""Connection handshake: CONNECT frame, connection reply, declines, max_connections."""

from __future__ import annotations

import pytest

from pondsocket import (
    ConnectionContext,
    ConnectionDecision,
    Headers,
    IncomingConnection,
    InMemoryTransport,
    Options,
    PondError,
    unauthorized,
)
from tests.core.helpers import accept_connection, connect, frames


def incoming(uid: str = "u1", **kwargs) -> IncomingConnection:
    return IncomingConnection(uid, "10.0.0.1", **kwargs)


async def test_connect_frame_announces_the_connection_on_gateway(endpoint):
    transport = await connect(endpoint, "alice", read_connect=False)
    first = (await frames(transport))[0]
    assert list(first) == ["action", "event", "channelName", "requestId", "payload"]
    assert first["action"] == "CONNECT"
    assert first["event"] == "CONNECTION"
    assert first["channelName"] == "GATEWAY"
    assert first["payload"] == {"id": "alice", "connectionId": "alice"}
    assert first["requestId"]


async def test_connection_reply_is_sent_right_after_connect(pond):
    async def auth(ctx: ConnectionContext) -> None:
        ctx.reply("welcome", {"hi": 1})

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming("a"))
    assert ctx.is_accepted  # reply implies accept
    transport = InMemoryTransport("a", assigns=ctx.assigns)
    await endpoint.register_transport(transport, ctx)
    got = await frames(transport)
    assert [(f["action"], f["event"], f["channelName"]) for f in got] == [
        ("CONNECT", "CONNECTION", "GATEWAY"), ("SYSTEM", "welcome", "GATEWAY")]
    assert got[1]["payload"] == {"hi": 1}
    assert got[1]["requestId"] and got[1]["requestId"] != got[0]["requestId"]


async def test_connection_handler_sees_the_request(pond):
    seen = {}

    async def auth(ctx: ConnectionContext) -> None:
        seen.update(query=ctx.query, address=ctx.address, cookies=ctx.cookies,
                    header=ctx.headers.get("X-Token"), user_id=ctx.user_id)
        ctx.accept(role="admin")

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming(
        "u7", query={"token": "t"}, cookies={"sid": "s"},
        headers=Headers([(b"x-token", b"abc")])))
    assert ctx.decision is ConnectionDecision.ACCEPTED
    assert ctx.assigns == {"role": "admin"}
    assert seen == {"query": {"token": "t"}, "address": "10.0.0.1", "cookies": {"sid": "s"},
                    "header": "abc", "user_id": "u7"}


async def test_decline_carries_code_and_message(pond):
    async def auth(ctx: ConnectionContext) -> None:
        ctx.decline(401, "Invalid token")

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming())
    assert ctx.is_declined and not ctx.is_accepted
    assert ctx.decline_info == (401, "Invalid token")
    assert await endpoint.connection_count() == 0


async def test_handler_raising_pond_error_declines_with_its_code(pond):
    async def auth(ctx: ConnectionContext) -> None:
        raise unauthorized("", "bad credentials")

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming())
    assert ctx.decline_info == (401, "bad credentials")


async def test_handler_raising_other_exception_declines_500_without_leaking(pond):
    async def auth(ctx: ConnectionContext) -> None:
        raise RuntimeError("database password is hunter2")

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming())
    code, message = ctx.decline_info
    assert code == 500
    assert "hunter2" not in message


async def test_handler_raising_after_accept_still_declines(pond):
    async def auth(ctx: ConnectionContext) -> None:
        ctx.accept(user="x")
        raise PondError("profile lookup failed", 503)

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming())
    assert ctx.is_declined and not ctx.is_accepted
    assert ctx.decline_info == (503, "profile lookup failed")


async def test_handler_raising_a_non_error_status_still_declines(pond):
    async def auth(ctx: ConnectionContext) -> None:
        raise PondError("moved", 302)

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming())
    assert ctx.decline_info == (500, "moved")


async def test_handler_not_deciding_declines_500(pond):
    async def auth(ctx: ConnectionContext) -> None:
        return None

    endpoint = pond.create_endpoint("/socket", auth)
    ctx = await endpoint.request_connection(incoming())
    assert ctx.is_declined
    assert ctx.decline_info[0] == 500


async def test_first_decision_is_final():
    ctx = ConnectionContext(user_id="u", request=incoming())
    ctx.decline(403, "no")
    with pytest.raises(RuntimeError):
        ctx.accept()
    ctx.decline(401, "other")
    assert ctx.decline_info == (403, "no")
    accepted = ConnectionContext(user_id="u", request=incoming())
    accepted.accept()
    with pytest.raises(RuntimeError):
        accepted.decline(401, "late")


async def test_decline_code_must_be_an_http_error_status():
    ctx = ConnectionContext(user_id="u", request=incoming())
    with pytest.raises(ValueError):
        ctx.decline(200, "ok?")
    assert not ctx.is_declined


async def test_connection_middlewares_run_before_the_handler_and_can_decline(pond):
    order = []

    async def mw(ctx: ConnectionContext, next_) -> None:
        order.append("mw")
        if ctx.query.get("banned"):
            ctx.decline(403, "banned")
            return
        await next_()

    async def auth(ctx: ConnectionContext) -> None:
        order.append("handler")
        ctx.accept()

    endpoint = pond.create_endpoint("/socket", auth, mw)
    assert (await endpoint.request_connection(incoming())).is_accepted
    assert order == ["mw", "handler"]
    declined = await endpoint.request_connection(incoming("b", query={"banned": "1"}))
    assert declined.decline_info == (403, "banned")
    assert order == ["mw", "handler", "mw"]


async def test_max_connections_declines_503_without_running_the_handler(make_pond):
    calls = []

    async def auth(ctx: ConnectionContext) -> None:
        calls.append(ctx.user_id)
        ctx.accept()

    pond = make_pond(Options(max_connections=1))
    endpoint = pond.create_endpoint("/socket", auth)
    await connect(endpoint, "first")
    ctx = await endpoint.request_connection(incoming("second"))
    assert ctx.decline_info[0] == 503
    assert calls == ["first"]
    # A connection that was accepted earlier still cannot squeeze in past the limit.
    with pytest.raises(PondError) as err:
        await endpoint.register_transport(InMemoryTransport("late"))
    assert err.value.code == 503


async def test_a_slot_frees_up_when_a_connection_closes(make_pond):
    pond = make_pond(Options(max_connections=1))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    first = await connect(endpoint, "first")
    first.disconnect()
    await first.wait_closed()
    assert await endpoint.connection_count() == 0
    await connect(endpoint, "second")


async def test_duplicate_connection_id_is_refused(endpoint):
    await connect(endpoint, "same")
    with pytest.raises(PondError) as err:
        await endpoint.register_transport(InMemoryTransport("same"))
    assert err.value.code == 409


async def test_closed_endpoint_declines(pond, endpoint):
    await endpoint.close()
    ctx = await endpoint.request_connection(incoming())
    assert ctx.decline_info[0] == 503


async def test_connection_assigns_reach_the_transport(pond):
    async def auth(ctx: ConnectionContext) -> None:
        ctx.set_assign("a", 1).set_assigns(b=2)
        ctx.accept(c=3)

    endpoint = pond.create_endpoint("/socket", auth)
    transport = await connect(endpoint, "u")
    assert transport.clone_assigns() == {"a": 1, "b": 2, "c": 3}
    assert await endpoint.get_transport("u") is transport
    assert await pond.find_transport("u") is transport
    assert await pond.find_transport("nobody") is None


async def test_match_endpoint_first_registered_wins_and_extracts_params(pond):
    tenant = pond.create_endpoint("/socket/:tenant", accept_connection)
    pond.create_endpoint("/socket/*", accept_connection)
    match = pond.match_endpoint("/socket/acme?token=1")
    assert match is not None and match.endpoint is tenant
    assert match.route.params == {"tenant": "acme"}
    assert match.route.query == {"token": ["1"]}
    assert pond.match_endpoint("/nope") is None
    with pytest.raises(ValueError):
        pond.create_endpoint("/socket/:tenant", accept_connection)


async def test_close_connection_makes_the_user_leave(endpoint):
    transport = await connect(endpoint, "u")
    await endpoint.close_connection("u")
    await transport.wait_closed()
    assert await endpoint.connection_count() == 0


async def test_pond_close_closes_connections_with_going_away(pond, endpoint):
    transport = await connect(endpoint, "u")
    await pond.close()
    await transport.wait_closed()
    assert transport.close_code == 1001
    assert not transport.is_active()


async def test_registering_on_a_closed_endpoint_is_refused(endpoint):
    ctx = await endpoint.request_connection(incoming("late"))
    assert ctx.is_accepted
    await endpoint.close()  # the server shuts down between the handshake and registration
    with pytest.raises(PondError) as err:
        await endpoint.register_transport(InMemoryTransport("late"), ctx)
    assert err.value.code == 503
    assert await endpoint.connection_count() == 0
