"""Every failed client event is answered with an ERROR frame carrying its requestId."""

from __future__ import annotations

import pytest

from pondsocket import (
    EventContext,
    Hooks,
    MultiError,
    Options,
    PondError,
    bad_request,
    conflict,
    error_event,
    forbidden,
    internal,
    not_found,
    timeout,
    too_many_requests,
    unauthorized,
    unavailable,
)
from tests.core.helpers import (
    accept_connection,
    accept_join,
    connect,
    event_msg,
    frames,
    join,
    join_msg,
    only,
)


@pytest.fixture
async def alice(endpoint):
    lobby = endpoint.create_channel("/chat/:room", accept_join)

    async def fail(ctx: EventContext) -> None:
        payload = ctx.payload
        if "code" in payload:
            raise PondError(payload["message"], payload["code"],
                            temporary=payload.get("temporary", False),
                            details=payload.get("details"))
        raise ValueError("SELECT * FROM secrets")

    async def ok(ctx: EventContext) -> None:
        await ctx.reply("ok", {})

    lobby.on_message("fail", fail)
    lobby.on_message("ok", ok)
    transport = await connect(endpoint, "alice")
    await join(transport, "/chat/1")
    return transport


async def test_unknown_event_is_handler_not_found_404(alice):
    await alice.push_inbound(event_msg("/chat/1", "unknown_evt", request_id="unk-1"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["event"], frame["channelName"], frame["requestId"]) == (
        "ERROR", "HANDLER_NOT_FOUND", "/chat/1", "unk-1")
    assert frame["payload"]["code"] == 404
    assert isinstance(frame["payload"]["message"], str)


@pytest.mark.parametrize(("code", "event"), [
    (400, "CHANNEL_ERROR"),
    (403, "UNAUTHORIZED_BROADCAST"),
    (404, "CHANNEL_ERROR"),  # HANDLER_NOT_FOUND means: no handler at all
    (409, "CHANNEL_ERROR"),
    (429, "RATE_LIMITED"),
    (500, "INTERNAL_SERVER_ERROR"),
    (503, "CHANNEL_ERROR"),
])
async def test_handler_raising_pond_error_answers_with_its_code(alice, code, event):
    await alice.push_inbound(event_msg("/chat/1", "fail", {"code": code, "message": "nope"},
                                       request_id="r"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["event"], frame["requestId"]) == ("ERROR", event, "r")
    assert frame["payload"]["code"] == code
    assert frame["payload"]["message"] == "nope"


async def test_pond_error_extras_travel_with_the_error(alice):
    await alice.push_inbound(event_msg("/chat/1", "fail", {
        "code": 503, "message": "later", "temporary": True, "details": {"retry": 5}}))
    payload = only(await frames(alice))["payload"]
    assert payload == {"code": 503, "message": "later", "temporary": True,
                       "details": {"retry": 5}}


async def test_other_exception_is_500_and_hides_its_text(alice):
    await alice.push_inbound(event_msg("/chat/1", "fail", {}, request_id="boom"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["event"], frame["requestId"]) == (
        "ERROR", "INTERNAL_SERVER_ERROR", "boom")
    assert frame["payload"]["code"] == 500
    assert "SELECT" not in frame["payload"]["message"]
    assert "secrets" not in str(frame["payload"])


async def test_connection_stays_usable_after_errors(alice):
    await alice.push_inbound(event_msg("/chat/1", "fail", {}))
    await alice.push_inbound(event_msg("/chat/1", "unknown"))
    await alice.push_inbound(event_msg("/chat/1", "ok", request_id="fine"))
    got = await frames(alice)
    assert [f["action"] for f in got] == ["ERROR", "ERROR", "SYSTEM"]
    assert got[-1]["requestId"] == "fine"


async def test_broadcast_from_a_non_member_is_403(endpoint, alice):
    bob = await connect(endpoint, "bob")
    await bob.push_inbound(event_msg("/chat/1", "ok", request_id="nm"))
    frame = only(await frames(bob))
    assert (frame["action"], frame["event"], frame["channelName"], frame["requestId"]) == (
        "ERROR", "UNAUTHORIZED_BROADCAST", "/chat/1", "nm")
    assert frame["payload"]["code"] == 403
    assert await frames(alice) == []


async def test_broadcast_to_a_channel_that_does_not_exist_is_403(alice):
    await alice.push_inbound(event_msg("/chat/99", "ok", request_id="nochan"))
    frame = only(await frames(alice))
    assert (frame["event"], frame["requestId"], frame["payload"]["code"]) == (
        "UNAUTHORIZED_BROADCAST", "nochan", 403)


@pytest.mark.parametrize(("factory", "code", "temporary"), [
    (bad_request, 400, False), (unauthorized, 401, False), (forbidden, 403, False),
    (not_found, 404, False), (conflict, 409, False), (too_many_requests, 429, True),
    (internal, 500, False), (unavailable, 503, True), (timeout, 504, True),
])
def test_error_constructors(factory, code, temporary):
    err = factory("/chat/1", "msg")
    assert isinstance(err, PondError)
    assert (err.code, err.message, err.channel_name, err.temporary) == (
        code, "msg", "/chat/1", temporary)
    assert err.to_payload()["code"] == code


def test_pond_error_code_must_be_a_status():
    with pytest.raises(ValueError):
        PondError("x", 99)
    with pytest.raises(ValueError):
        PondError("x", 600)


def test_multi_error_takes_the_first_code():
    err = MultiError([not_found("", "a"), ValueError("b")])
    assert err.code == 404
    assert err.message == "a; b"
    with pytest.raises(ValueError):
        MultiError([])


def test_error_event_describes_an_error_without_leaking_internals():
    assert error_event(None) is None
    event = error_event(forbidden("/chat/1", "no"))
    assert (event.action, event.event, event.channel_name) == (
        "SYSTEM", "INTERNAL_ERROR", "/chat/1")
    assert event.payload == {"code": 403, "message": "no", "temporary": False, "details": {}}
    hidden = error_event(RuntimeError("password=1"))
    assert hidden.channel_name == "GATEWAY"
    assert hidden.payload["code"] == 500
    assert "password" not in hidden.payload["message"]


class BrokenLimiter:
    """A rate limiter whose backend is down."""

    async def allow(self, key: str) -> bool:
        raise ConnectionError("limiter backend unreachable")

    async def reset(self, key: str) -> None:
        pass


async def test_a_failing_hook_outside_any_handler_is_answered_with_500(make_pond):
    pond = make_pond(Options(hooks=Hooks(channel_rate_limiter=BrokenLimiter())))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    endpoint.create_channel("/chat/:room", accept_join)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    await alice.push_inbound(event_msg("/chat/1", "anything", request_id="r"))
    frame = only(await frames(alice))
    assert (frame["action"], frame["event"], frame["requestId"]) == (
        "ERROR", "INTERNAL_SERVER_ERROR", "r")
    assert frame["payload"]["code"] == 500
    assert "unreachable" not in frame["payload"]["message"]
    # The connection is still served.
    await alice.push_inbound(join_msg("/chat/2"))
    assert only(await frames(alice))["event"] == "ACKNOWLEDGE"
