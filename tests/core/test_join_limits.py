"""The limits of docs/limits.md "Channels and presence": each refusal names its limit, a
refused join is a ``SYSTEM``/``UNAUTHORIZED`` frame (every client settles on it), anything else
an ``ERROR`` frame; the connection stays served."""

from __future__ import annotations

from typing import Any

import pytest

from pondsocket import EventContext, JoinContext, Options, PondError
from tests.core.helpers import accept_connection, connect, event_msg, frames, join, join_msg


def refusal(got: list[dict[str, Any]]) -> tuple[int, str]:
    assert len(got) == 1, got
    frame = got[0]
    assert (frame["action"], frame["event"]) == ("SYSTEM", "UNAUTHORIZED"), frame
    return frame["payload"]["code"], frame["payload"]["message"]


async def joined_frames(transport: Any, channel: str) -> list[dict[str, Any]]:
    await transport.push_inbound(join_msg(channel))
    return await frames(transport)


def chat(make_pond: Any, **options: Any) -> Any:
    pond = make_pond(Options(**options))
    endpoint = pond.create_endpoint("/socket", accept_connection)

    async def on_join(ctx: JoinContext) -> None:
        await ctx.accept()
        await ctx.track(ctx.join_params.get("presence") or {"name": ctx.user_id})

    async def status(ctx: EventContext) -> None:
        await ctx.update_presence(ctx.event.payload)

    endpoint.create_channel("/chat/:room", on_join).on_message("status", status)
    return endpoint


async def test_a_connection_may_be_in_128_channels_by_default(make_pond: Any) -> None:
    endpoint = chat(make_pond)
    alice = await connect(endpoint, "alice")
    for i in range(128):
        await join(alice, f"/chat/{i}")
    code, message = refusal(await joined_frames(alice, "/chat/128"))
    assert (code, message) == (429, "Too many channels: a connection may be in at most 128 "
                                     "(max_channels_per_connection)")
    # leaving one makes room again
    await alice.push_inbound({"action": "LEAVE_CHANNEL", "event": "LEAVE_CHANNEL",
                              "channelName": "/chat/0", "requestId": "l", "payload": {}})
    await frames(alice)
    await join(alice, "/chat/128")


@pytest.mark.parametrize(("name", "message"), [
    ("/chat/" + "x" * 60_000, "Channel name too long: 60006 characters, at most 256 "
                              "(max_channel_name_length)"),
    ("/chat/a\x00b", "Channel name contains the control character '\\x00'"),
    ("/chat/a\nb", "Channel name contains the control character '\\n'"),
    ("/chat/\x9b", "Channel name contains the control character '\\x9b'"),
    ("/chat/*", "Channel name contains '*'"),
], ids=["60k-name", "nul", "newline", "c1-control", "wildcard"])
async def test_a_bad_channel_name_is_refused_with_its_reason(make_pond: Any, name: str,
                                                             message: str) -> None:
    endpoint = chat(make_pond)
    alice = await connect(endpoint, "alice")
    assert refusal(await joined_frames(alice, name)) == (400, message)
    await join(alice, "/chat/ok")  # still served
    assert endpoint.lobbies[0].channels.keys() == {"/chat/ok"}


async def test_names_up_to_the_limit_and_unicode_are_fine(make_pond: Any) -> None:
    endpoint = chat(make_pond, max_channel_name_length=16)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/é-日本-ok")
    assert refusal(await joined_frames(alice, "/chat/0123456789a"))[0] == 400  # 17


async def test_a_full_channel_refuses_the_next_member(make_pond: Any) -> None:
    endpoint = chat(make_pond, max_members_per_channel=2)
    users = [await connect(endpoint, uid) for uid in ("a", "b", "c")]
    await join(users[0], "/chat/1")
    await join(users[1], "/chat/1")
    assert refusal(await joined_frames(users[2], "/chat/1")) == (
        503, "Channel /chat/1 is full: at most 2 members on this node "
             "(max_members_per_channel)")
    await join(users[2], "/chat/2")  # another channel is not full


async def test_a_presence_too_large_is_an_error_and_the_member_stays(make_pond: Any) -> None:
    endpoint = chat(make_pond, max_presence_size=64)
    alice = await connect(endpoint, "alice")
    big = {"bio": "x" * 100}
    await alice.push_inbound(join_msg("/chat/1", {"presence": big}))
    got = await frames(alice)
    assert [(f["action"], f["event"]) for f in got] == [("SYSTEM", "ACKNOWLEDGE"),
                                                        ("ERROR", "CHANNEL_ERROR")]
    assert got[1]["payload"]["code"] == 413
    assert got[1]["payload"]["message"] == ("Presence too large: 110 bytes, at most 64 "
                                            "(max_presence_size)")
    channel = endpoint.lobbies[0].channels["/chat/1"]
    assert "alice" in channel.members and await channel.get_presence() == {}
    # an update that is too large is refused the same way, and changes nothing
    bob = await connect(endpoint, "bob")
    await join(bob, "/chat/1", {"presence": {"n": "bob"}})
    await bob.push_inbound(event_msg("/chat/1", "status", big))
    error = (await frames(bob))[0]
    assert (error["action"], error["payload"]["code"]) == ("ERROR", 413), error
    assert await channel.get_presence() == {"bob": {"n": "bob"}}


async def test_the_limits_are_checked_when_options_are_made() -> None:
    with pytest.raises(ValueError, match="max_channels_per_connection"):
        Options(max_channels_per_connection=-1)
    with pytest.raises(ValueError, match="max_channel_name_length"):
        Options(max_channel_name_length=0)


async def test_server_code_gets_the_presence_limit_as_a_pond_error(make_pond: Any) -> None:
    endpoint = chat(make_pond, max_presence_size=16)
    alice = await connect(endpoint, "alice")
    await join(alice, "/chat/1", {"presence": {"n": 1}})
    channel = endpoint.lobbies[0].channels["/chat/1"]
    with pytest.raises(PondError) as raised:
        await channel.update_presence("alice", {"name": "a" * 20})
    assert raised.value.code == 413
