"""Bad client input over a real socket, on every server the project offers (``ws_server``):
every frame gets its documented answer, and a second connected client keeps being served."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from pondsocket import Hooks, Options, TokenBucketRateLimiter

pytestmark = pytest.mark.timeout(30)

GATEWAY = "GATEWAY"


async def two_members(server, ws_connect):
    ada = await ws_connect(server, "/api/socket?name=ada")
    bob = await ws_connect(server, "/api/socket?name=bob")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    await bob.join("/room/1")
    await bob.expect("PRESENCE", "JOIN", "/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    return ada, bob


async def bob_still_served(ada, bob, n: int) -> None:
    """bob's broadcast reaches both members: the server is still serving everyone."""
    await bob.send_msg("BROADCAST", "/room/1", "shout", {"n": n}, request_id=f"bob-{n}")
    await bob.expect("BROADCAST", "shout", "/room/1", payload={"n": n})
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"n": n})


FULL = {"action": "BROADCAST", "event": "shout", "channelName": "/room/1", "requestId": "q1",
        "payload": {}}

CASES = [
    ("non-json text", "hello there", "wireMessage: Invalid JSON: ", None),
    ("json array", json.dumps([FULL]), "wireMessage: Expected object", None),
    ("json string", json.dumps("x"), "wireMessage: Expected object", None),
    ("action not a string", json.dumps({**FULL, "action": 1}), "action: Expected string", "q1"),
    ("event not a string", json.dumps({**FULL, "event": None}), "event: Expected string", "q1"),
    ("channel not a string", json.dumps({**FULL, "channelName": ["/room/1"]}),
     "channelName: Expected string", "q1"),
    ("request id not a string", json.dumps({**FULL, "requestId": 7}),
     "requestId: Expected string", None),
    ("missing event", json.dumps({k: v for k, v in FULL.items() if k != "event"}),
     "event: Missing required field", "q1"),
    ("missing payload", json.dumps({k: v for k, v in FULL.items() if k != "payload"}),
     "payload: Missing required field", "q1"),
    ("payload null", json.dumps({**FULL, "payload": None}), "payload: Expected object", "q1"),
    ("payload array", json.dumps({**FULL, "payload": []}), "payload: Expected object", "q1"),
    ("unknown action", json.dumps({**FULL, "action": "SHOUT"}),
     "action: Unknown action 'SHOUT'; expected one of JOIN_CHANNEL, LEAVE_CHANNEL, BROADCAST",
     "q1"),
    ("empty channel", json.dumps({**FULL, "channelName": ""}),
     "channelName: Expected a non-empty string", "q1"),
    ("invalid utf-8 binary", b"\xff\xfe{\x80", "wireMessage: Invalid UTF-8", None),
]


@pytest.mark.parametrize(("raw", "message", "request_id"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
async def test_bad_frame_gets_invalid_message(ws_server, ws_connect, chat_app, raw, message,
                                              request_id):
    server = await ws_server(chat_app())
    ada, bob = await two_members(server, ws_connect)
    await ada.send(raw)
    frame = await ada.expect("ERROR", "INVALID_MESSAGE", GATEWAY)
    assert frame["payload"]["code"] == 400
    assert frame["payload"]["message"].startswith(message), frame
    if not message.endswith(": "):
        assert frame["payload"] == {"code": 400, "message": message, "error": message}
    if request_id is not None:
        assert frame["requestId"] == request_id
    else:
        assert frame["requestId"] not in ("", "q1")
    await bob_still_served(ada, bob, 1)
    # and ada's connection is still usable
    await ada.send_msg("BROADCAST", "/room/1", "ping", {}, request_id="p")
    await ada.expect("SYSTEM", "pong", "/room/1", "p", {"echo": {}})


async def test_valid_binary_frame_is_accepted(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    ada, bob = await two_members(server, ws_connect)
    await ada.send(json.dumps({**FULL, "payload": {"via": "binary"}}).encode())
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"via": "binary"})
    await bob.expect("BROADCAST", "shout", "/room/1", payload={"via": "binary"})


async def test_legacy_ping_is_ignored(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app())
    ada, bob = await two_members(server, ws_connect)
    await ada.send({"action": "ping"})
    await ada.send_msg("BROADCAST", "/room/1", "ping", {"after": True}, request_id="p1")
    # the very next frame answers the real request: nothing was sent for the legacy ping
    await ada.expect("SYSTEM", "pong", "/room/1", "p1", {"echo": {"after": True}})
    await bob_still_served(ada, bob, 1)


async def test_frame_over_max_message_size_is_413_and_connection_survives(
        ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app(Options(max_message_size=1024)))
    ada, bob = await two_members(server, ws_connect)
    big = json.dumps({**FULL, "payload": {"blob": "x" * 2000}})
    size = len(big.encode())
    await ada.send(big)
    message = (f"wireMessage: Message of {size} bytes exceeds the limit of 1024 bytes")
    # answered on the sender's channel with its requestId, found without a full parse
    frame = await ada.expect("ERROR", "INVALID_MESSAGE", "/room/1", "q1")
    assert frame["payload"] == {"code": 413, "message": message,
                                "error": "wireMessage: Message too large"}
    # exactly at the limit is fine
    at_limit = json.dumps({**FULL, "payload": {"b": ""}})
    at_limit = json.dumps({**FULL, "payload": {"b": "y" * (1024 - len(at_limit))}})
    assert len(at_limit) == 1024
    await ada.send(at_limit)
    await ada.expect("BROADCAST", "shout", "/room/1")
    await bob.expect("BROADCAST", "shout", "/room/1")
    await bob_still_served(ada, bob, 1)


async def test_frame_over_server_ws_max_size_closes_1009(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app(Options(max_message_size=1024)))
    ada, bob = await two_members(server, ws_connect)
    await ada.send(json.dumps({**FULL, "payload": {"blob": "x" * 10_000}}))
    code, _reason = await ada.closed()
    assert code == 1009
    # bob sees ada leave, and is still served
    await bob.expect("PRESENCE", "LEAVE", "/room/1",
                     payload={"presence": [{"name": "bob"}], "changed": {"name": "ada"}})
    await bob.send_msg("BROADCAST", "/room/1", "shout", {"n": 2})
    await bob.expect("BROADCAST", "shout", "/room/1", payload={"n": 2})


async def test_server_frame_limit_is_four_times_max_message_size(ws_server, ws_connect,
                                                                 chat_app):
    """Both servers' default frame limit (pondctl's ``ws_max_size``, the direct server's
    ``max_size``): a frame of exactly 4 x ``max_message_size`` is still read and answered
    413; one byte more and the server closes with 1009 before buffering it."""
    limit = 1024
    server = await ws_server(chat_app(Options(max_message_size=limit)))
    ada, bob = await two_members(server, ws_connect)

    def frame_of(size: int) -> str:
        frame = json.dumps({**FULL, "payload": {"blob": ""}})
        frame = json.dumps({**FULL, "payload": {"blob": "x" * (size - len(frame))}})
        assert len(frame.encode()) == size
        return frame

    await ada.send(frame_of(4 * limit))
    frame = await ada.expect("ERROR", "INVALID_MESSAGE", "/room/1", "q1")
    assert frame["payload"]["code"] == 413
    await bob_still_served(ada, bob, 1)

    await ada.send(frame_of(4 * limit + 1))
    code, _reason = await ada.closed()
    assert code == 1009
    await bob.expect("PRESENCE", "LEAVE", "/room/1")


class FrozenClock:
    """A clock that only moves when told: the token bucket never refills during the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_flood_is_rate_limited_and_others_are_served(ws_server, ws_connect, chat_app):
    clock = FrozenClock()
    capacity = 20
    limiter = TokenBucketRateLimiter(rate=1, capacity=capacity, clock=clock)
    server = await ws_server(chat_app(Options(hooks=Hooks(rate_limiter=limiter))))
    ada, bob = await two_members(server, ws_connect)  # one join each: one token each

    flood = 2000
    frames: list[dict] = []

    async def read_ada() -> None:
        while len(frames) < flood:
            frames.append(await ada.recv())

    reader = asyncio.get_running_loop().create_task(read_ada())
    for i in range(flood):
        await ada.send_msg("BROADCAST", "/room/1", "shout", {"i": i}, request_id=f"f{i}")
    await asyncio.wait_for(reader, 20)

    allowed = capacity - 1
    broadcasts = [f for f in frames if f["action"] == "BROADCAST"]
    limited = [f for f in frames if f["action"] == "ERROR"]
    assert [f["payload"] for f in broadcasts] == [{"i": i} for i in range(allowed)]
    assert [f["requestId"] for f in limited] == [f"f{i}" for i in range(allowed, flood)]
    assert all(f["event"] == "RATE_LIMITED" and f["channelName"] == "/room/1" and
               f["payload"] == {"code": 429, "message": "Rate limit exceeded",
                                "temporary": True} for f in limited)
    assert len(frames) == flood

    # bob received exactly the admitted broadcasts, in order, and is still served
    for i in range(allowed):
        await bob.expect("BROADCAST", "shout", "/room/1", payload={"i": i})
    await bob_still_served(ada, bob, 1)

    # once the bucket refills, ada is served again
    clock.now += capacity
    await ada.send_msg("BROADCAST", "/room/1", "ping", {}, request_id="again")
    await ada.expect("SYSTEM", "pong", "/room/1", "again")


async def test_abrupt_disconnect_mid_flood_leaves_others_unaffected(ws_server, ws_connect,
                                                                    chat_app):
    server = await ws_server(chat_app())
    ada, bob = await two_members(server, ws_connect)
    for i in range(50):
        await ada.send_msg("BROADCAST", "/room/1", "shout", {"i": i}, request_id=f"f{i}")
    ada.ws.transport.abort()  # no close handshake
    with pytest.raises(ConnectionClosed):
        await ada.ws.recv()
    seen = []
    while True:
        frame = await bob.recv()
        if frame["action"] == "PRESENCE":
            assert frame["event"] == "LEAVE" and frame["payload"]["changed"] == {"name": "ada"}
            break
        seen.append(frame["payload"]["i"])
    assert seen == list(range(len(seen)))  # a prefix, in order
    await bob.send_msg("BROADCAST", "/room/1", "shout", {"n": 9})
    await bob.expect("BROADCAST", "shout", "/room/1", payload={"n": 9})
