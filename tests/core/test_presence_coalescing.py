"""Big rooms, upstream-protocol members: one frame per change up to the threshold, then one
frame per coalescing window (the current full list and the window's last change)."""

from __future__ import annotations

import asyncio

from pondsocket import Options
from pondsocket.presence import PRESENCE_BATCH
from pondsocket.transport.base import BaseTransport
from tests.core.helpers import accept_and_track, accept_connection, connect, frames, join


def presence_frames(got: list[dict]) -> list[dict]:
    return [f for f in got if f["action"] == "PRESENCE"]


async def big_lobby(make_pond, **options):
    pond = make_pond(Options(**options))
    endpoint = pond.create_endpoint("/socket", accept_connection)
    lobby = endpoint.create_channel("/room/:id", accept_and_track)
    return endpoint, lobby


async def test_below_the_threshold_every_change_is_a_frame(make_pond):
    endpoint, _ = await big_lobby(make_pond, presence_coalesce_threshold=3,
                                  presence_coalesce_window=60)
    users = [await connect(endpoint, f"u{i}") for i in range(3)]
    for i, user in enumerate(users):
        got = await join(user, "/room/1")
        (frame,) = presence_frames(got)
        assert frame["event"] == "JOIN"
        assert [p["name"] for p in frame["payload"]["presence"]] == [f"u{j}" for j in
                                                                      range(i + 1)]
    assert len(presence_frames(await frames(users[0]))) == 2  # u1's and u2's joins


async def test_above_the_threshold_changes_wait_for_the_window(make_pond):
    endpoint, lobby = await big_lobby(make_pond, presence_coalesce_threshold=3,
                                      presence_coalesce_window=60)
    users = [await connect(endpoint, f"u{i}") for i in range(3)]
    for user in users:
        await join(user, "/room/1")
    for user in users:
        await frames(user)
    late = [await connect(endpoint, f"v{i}") for i in range(4)]
    for user in late:
        got = await join(user, "/room/1")
        assert not presence_frames(got)  # acknowledged; presence comes with the window
    assert not presence_frames(await frames(users[0]))
    channel = await lobby.get_channel("/room/1")
    assert channel is not None
    await channel.flush_presence()
    for user in users + late:
        (frame,) = presence_frames(await frames(user))
        assert frame["event"] == "JOIN"
        assert frame["payload"]["changed"] == {"name": "v3"}
        assert len(frame["payload"]["presence"]) == 7


async def test_the_window_sends_by_itself_and_a_leave_is_seen(make_pond):
    endpoint, lobby = await big_lobby(make_pond, presence_coalesce_threshold=1,
                                      presence_coalesce_window=0.02)
    alice, bob, carol = [await connect(endpoint, uid) for uid in ("alice", "bob", "carol")]
    for user in (alice, bob, carol):
        await join(user, "/room/1")
    channel = await lobby.get_channel("/room/1")
    assert channel is not None
    await channel.remove_user("carol")
    # Wait for the window's frame (an event), whatever came before it.
    while True:
        frame = await asyncio.wait_for(alice.receive_json(), 5)
        if frame["action"] == "PRESENCE" and frame["payload"]["changed"] == {"name": "carol"}:
            break
    assert frame["event"] == "LEAVE"
    assert frame["payload"]["presence"] == [{"name": "alice"}, {"name": "bob"}]


async def test_a_storm_yields_to_other_channels(make_pond):
    """Presence frames to many members are queued in batches with the loop let run between
    them: another channel's task runs before a big room's delivery is done."""
    endpoint, lobby = await big_lobby(make_pond, presence_coalesce_threshold=10,
                                      presence_coalesce_window=60,
                                      send_channel_buffer=4096)
    n = PRESENCE_BATCH * 3
    users = [await connect(endpoint, f"u{i}") for i in range(n)]
    for user in users:
        await join(user, "/room/big")
    channel = await lobby.get_channel("/room/big")
    assert channel is not None
    await channel.flush_presence()
    for user in users:
        await frames(user)
    newcomer = await connect(endpoint, "newcomer")
    await join(newcomer, "/room/big")
    ran_during: list[int] = []
    before = BaseTransport.frames_queued_total

    async def bystander() -> None:
        ran_during.append(BaseTransport.frames_queued_total - before)

    flush = asyncio.ensure_future(channel.flush_presence())
    other = asyncio.ensure_future(bystander())
    await asyncio.gather(flush, other)
    # The bystander ran while the flush had queued some of the frames, not all of them.
    assert 0 < ran_during[0] < n
    for user in users:
        (frame,) = presence_frames(await frames(user))
        assert frame["payload"]["changed"] == {"name": "newcomer"}
