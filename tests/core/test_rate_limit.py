"""Rate limiting: the token bucket, the automatic limiters, and the per-handler middleware."""

from __future__ import annotations

import pytest

from pondsocket import (
    EventContext,
    Hooks,
    Options,
    RateLimiter,
    TokenBucketRateLimiter,
    with_metrics,
    with_rate_limiter,
)
from tests.core.helpers import (
    RecordingMetrics,
    accept_connection,
    accept_join,
    connect,
    event_msg,
    frames,
    join,
    only,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


def limiter(clock, *, rate: float = 1.0, capacity: float = 2) -> TokenBucketRateLimiter:
    return TokenBucketRateLimiter(rate=rate, capacity=capacity, clock=clock)


async def test_token_bucket_allows_capacity_then_refills_at_rate(clock):
    bucket = limiter(clock, rate=2.0, capacity=3)
    assert isinstance(bucket, RateLimiter)
    assert [await bucket.allow("k") for _ in range(4)] == [True, True, True, False]
    clock.advance(0.49)
    assert not await bucket.allow("k")
    clock.advance(0.01)  # 0.5 s at 2 tokens/s: one token
    assert await bucket.allow("k")
    assert not await bucket.allow("k")
    clock.advance(100)  # never more than the capacity
    assert [bucket.allow_now("k") for _ in range(4)] == [True, True, True, False]


async def test_token_bucket_keys_are_independent_and_resettable(clock):
    bucket = limiter(clock, capacity=1)
    assert await bucket.allow("a") and await bucket.allow("b")
    assert not await bucket.allow("a")
    await bucket.reset("a")
    assert await bucket.allow("a")
    assert not await bucket.allow("b")
    await bucket.reset_all()
    assert await bucket.allow("b")


def test_token_bucket_validates_its_parameters():
    with pytest.raises(ValueError):
        TokenBucketRateLimiter(rate=0, capacity=1)
    with pytest.raises(ValueError):
        TokenBucketRateLimiter(rate=1, capacity=0.5)
    bucket = TokenBucketRateLimiter(rate=5, capacity=10)
    assert (bucket.rate, bucket.capacity) == (5.0, 10.0)


async def setup(make_pond, hooks: Hooks):
    pond = make_pond(Options(hooks=hooks))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/chat/:room", accept_join)
    calls = []

    async def ping(ctx: EventContext) -> None:
        calls.append(ctx.request_id)
        await ctx.reply("pong", {})

    lobby.on_message("ping", ping)
    return endpoint, lobby, calls


def assert_rate_limited(frame: dict, request_id: str) -> None:
    assert (frame["action"], frame["event"], frame["requestId"]) == (
        "ERROR", "RATE_LIMITED", request_id)
    assert frame["payload"]["code"] == 429
    assert frame["payload"]["temporary"] is True


async def test_connection_rate_limiter_is_applied_to_every_frame(make_pond, clock):
    endpoint, _, calls = await setup(make_pond, Hooks(rate_limiter=limiter(clock, capacity=3)))
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")  # a join costs a token too
    await alice.push_inbound(event_msg("/chat/1", "ping", request_id="p1"))
    await alice.push_inbound(event_msg("/chat/1", "ping", request_id="p2"))
    await alice.push_inbound(event_msg("/chat/1", "ping", request_id="p3"))
    got = await frames(alice)
    assert [f["event"] for f in got[:2]] == ["pong", "pong"]
    assert_rate_limited(got[2], "p3")
    assert calls == ["p1", "p2"]  # the refused message never reached its handler
    # Other connections have their own bucket.
    bob = await connect(endpoint, "bob")
    await join(bob, "/chat/1")
    # Time refills the bucket.
    clock.advance(1.0)
    await alice.push_inbound(event_msg("/chat/1", "ping", request_id="p4"))
    assert only(await frames(alice))["event"] == "pong"


async def test_channel_rate_limiter_is_per_channel_and_user(make_pond, clock):
    endpoint, _, calls = await setup(
        make_pond, Hooks(channel_rate_limiter=limiter(clock, capacity=1)))
    alice = await connect(endpoint, "alice")
    bob = await connect(endpoint, "bob")
    for room in ("/chat/1", "/chat/2"):
        await join(alice, room)  # joins are not limited by the channel limiter
        await join(bob, room)
    await alice.push_inbound(event_msg("/chat/1", "ping", request_id="a1"))
    await alice.push_inbound(event_msg("/chat/1", "ping", request_id="a2"))
    await alice.push_inbound(event_msg("/chat/2", "ping", request_id="a3"))
    await bob.push_inbound(event_msg("/chat/1", "ping", request_id="b1"))
    got = await frames(alice)
    assert [f["requestId"] for f in got] == ["a1", "a2", "a3"]
    assert_rate_limited(got[1], "a2")
    assert got[1]["channelName"] == "/chat/1"
    assert only(await frames(bob))["event"] == "pong"
    assert calls == ["a1", "a3", "b1"]


async def test_with_rate_limiter_middleware_on_one_handler(make_pond, clock):
    hooks = Hooks(rate_limiter=limiter(clock, capacity=2))
    pond = make_pond()  # the hooks are used only through the middleware here
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/chat/:room", accept_join)
    calls = []

    async def chat(ctx: EventContext) -> None:
        calls.append(ctx.request_id)
        await ctx.reply("ok", {})

    lobby.on_message("chat", chat, with_rate_limiter(hooks, key_fn=lambda msg: msg.user.id))
    lobby.on_message("free", chat)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    for n in range(3):
        await alice.push_inbound(event_msg("/chat/1", "chat", request_id=f"c{n}"))
    await alice.push_inbound(event_msg("/chat/1", "free", request_id="f"))
    got = await frames(alice)
    assert [f["event"] for f in got] == ["ok", "ok", "RATE_LIMITED", "ok"]
    assert_rate_limited(got[2], "c2")
    assert calls == ["c0", "c1", "f"]


async def test_readme_style_hooks_limit_as_configured(make_pond, clock):
    """The same Hooks in Options and in with_rate_limiter/with_metrics (as the upstream README
    does): every message still costs one token of the per-handler limit, not two."""
    hooks = Hooks(rate_limiter=limiter(clock, capacity=5), metrics=RecordingMetrics())
    pond = make_pond(Options(hooks=hooks))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/chat/:room", accept_join)

    async def chat(ctx: EventContext) -> None:
        await ctx.broadcast("chat", ctx.payload)

    lobby.on_message("chat", chat, with_rate_limiter(hooks, key_fn=lambda msg: msg.user.id),
                     with_metrics(hooks))
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")
    for n in range(5):
        await alice.push_inbound(event_msg("/chat/1", "chat", {"n": n}, request_id=f"c{n}"))
    got = await frames(alice)
    # Five frames were allowed in all (the join and four messages), the fifth message is not.
    assert [f["event"] for f in got] == ["chat"] * 4 + ["RATE_LIMITED"]
    assert ("/chat/1:chat" in {name for name, _ in hooks.metrics.calls["handler_duration"]})


def test_with_rate_limiter_needs_a_limiter():
    with pytest.raises(ValueError):
        with_rate_limiter(Hooks(), key_fn=lambda msg: msg.user.id)
