"""A ``JOIN_CHANNEL`` refused by ``Hooks.rate_limiter`` is a decline (docs/protocol.md, the
error table: ``SYSTEM``/``UNAUTHORIZED`` ``{"code": 429, "message": "Rate limit exceeded"}``),
not an ``ERROR`` frame, so that every client leaves its joining state; the join handler never
runs and the user is not a member."""

from __future__ import annotations

from pondsocket import Hooks, JoinContext, Options, TokenBucketRateLimiter
from tests.core.helpers import accept_connection, connect, frames, join, join_msg, only


class FakeClock:
    """The limiter's clock: refills happen when the test says so, not with wall time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_rate_limited_join_is_declined_with_429(make_pond) -> None:
    clock = FakeClock()
    limiter = TokenBucketRateLimiter(rate=1.0, capacity=1, clock=clock)
    pond = make_pond(Options(hooks=Hooks(rate_limiter=limiter)))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    handled: list[str] = []

    async def on_join(ctx: JoinContext) -> None:
        handled.append(ctx.channel.name)
        await ctx.accept()

    lobby = endpoint.create_channel("/chat/:room", on_join)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1")  # the bucket's only token

    refused = join_msg("/chat/2", request_id="join-2")
    await alice.push_inbound(refused)
    frame = only(await frames(alice))
    assert frame == {"action": "SYSTEM", "event": "UNAUTHORIZED", "channelName": "/chat/2",
                     "requestId": "join-2",
                     "payload": {"code": 429, "message": "Rate limit exceeded"}}
    assert handled == ["/chat/1"]  # the join handler never saw the refused join
    assert "/chat/2" not in lobby.channels

    # Declined, not joined: once the bucket refills the same join is accepted.
    clock.now += 1.0
    await join(alice, "/chat/2")
    assert handled == ["/chat/1", "/chat/2"]
