"""The admin event stream: joins, presence, broadcasts, errors, leaves; filtering; the bus."""

from __future__ import annotations

from typing import Any

from pondsocket.adminbus import BUS, EventBus, channel_filter

from .conftest import AUTH

ROOM = "/room/1"


async def test_stream_shows_join_presence_broadcast_error_and_leave(admin_env: Any) -> None:
    admin = await admin_env.start()
    events = await admin_env.events(admin)
    assert BUS.active
    alice = await admin_env.ws(admin, "alice")
    await alice.join(ROOM)
    await alice.expect("PRESENCE", "JOIN", ROOM)

    join = await events.expect("join", channel=ROOM, endpoint="/api/socket",
                               user_id=alice.user_id)
    assert isinstance(join["time"], float) and "dropped" not in join
    presence = await events.expect("presence", channel=ROOM, kind="JOIN")
    assert presence["changed"] == {"name": "alice"}

    await alice.send_msg("BROADCAST", ROOM, "status", {"status": "busy"})
    await alice.expect("PRESENCE", "UPDATE", ROOM)
    await events.expect("presence", kind="UPDATE", changed={"name": "alice", "status": "busy"})

    await alice.send_msg("BROADCAST", ROOM, "shout", {"text": "hello"})
    await alice.expect("BROADCAST", "shout", ROOM)
    await events.expect("broadcast", channel=ROOM, event="shout", recipients=1,
                        size=len(b'{"text":"hello"}'))

    await alice.send_msg("BROADCAST", ROOM, "fail", {})
    await alice.expect("ERROR", "INTERNAL_SERVER_ERROR", ROOM)
    error = await events.expect("error", channel=ROOM, event="fail", code=500,
                                user_id=alice.user_id)
    assert "exploded" not in error["message"]  # internal details stay internal
    await alice.send_msg("BROADCAST", ROOM, "nope", {})
    await alice.expect("ERROR", "HANDLER_NOT_FOUND", ROOM)
    await events.expect("error", event="nope", code=404)

    rid = await alice.send_msg("LEAVE_CHANNEL", ROOM)
    await alice.expect("SYSTEM", "EXIT_ACKNOWLEDGE", ROOM, rid)
    await events.expect("presence", kind="LEAVE")
    await events.expect("leave", channel=ROOM, user_id=alice.user_id)


async def test_stream_filters_by_channel_name_and_prefix(admin_env: Any) -> None:
    """A filtered stream gets the events of its channels only, in order: each check below
    sends events of other channels first, then one of the filtered channel, and the stream's
    next event must be the latter (an event of another channel would come before it)."""
    admin = await admin_env.start()
    exact = await admin_env.events(admin, f"?channel={ROOM}")
    prefix = await admin_env.events(admin, "?channel=/room/*")
    nine = await admin_env.events(admin, "?channel=/room/9*")  # matches nothing until the end
    alice = await admin_env.ws(admin, "alice")
    await alice.join("/room/2")
    await alice.expect("PRESENCE", "JOIN", "/room/2")
    await alice.join(ROOM)
    await alice.expect("PRESENCE", "JOIN", ROOM)

    # The exact filter skips /room/2 entirely: its first event is the join of /room/1.
    await exact.expect("join", channel=ROOM)
    await exact.expect("presence", channel=ROOM)
    for channel in ("/room/2", ROOM):
        await prefix.expect("join", channel=channel)
        await prefix.expect("presence", channel=channel)

    # A broadcast on /room/2, then one on /room/1: the exact stream gets only the second.
    for channel in ("/room/2", ROOM):
        await alice.send_msg("BROADCAST", channel, "shout", {"on": channel})
        await alice.expect("BROADCAST", "shout", channel)
    await exact.expect("broadcast", channel=ROOM, size=len(b'{"on":"/room/1"}'))
    await prefix.expect("broadcast", channel="/room/2")
    await prefix.expect("broadcast", channel=ROOM)

    # Events of another pond never reach these streams either.
    other = await admin_env.start()
    bob = await admin_env.ws(other, "bob")
    await bob.join(ROOM)
    await bob.expect("PRESENCE", "JOIN", ROOM)
    await alice.send_msg("BROADCAST", ROOM, "shout", {})
    await alice.expect("BROADCAST", "shout", ROOM)
    await exact.expect("broadcast", channel=ROOM, size=2)
    await prefix.expect("broadcast", channel=ROOM)

    # Everything above was outside /room/9*: that stream's first event is this join.
    await alice.join("/room/9")
    await alice.expect("PRESENCE", "JOIN", "/room/9")
    await nine.expect("join", channel="/room/9", user_id=alice.user_id)
    await nine.expect("presence", channel="/room/9", kind="JOIN")


async def test_events_need_the_token_and_an_event_stream(admin_env: Any) -> None:
    admin = await admin_env.start()
    response = await admin.get("/events", headers={"accept": "text/event-stream"})
    assert response.status_code == 401
    response = await admin.get("/events")
    assert response.status_code == 406
    assert not BUS.active
    response = await admin.http.get(admin.url("/events"),
                                    headers={**AUTH, "accept": "application/json"})
    assert response.status_code == 406


async def test_slow_subscriber_drops_and_reports() -> None:
    bus = EventBus()
    assert not bus.active

    class Pond:
        node_id = "n1"

    class Endpoint:
        path = "/ws"
        pond = Pond()

    class Lobby:
        endpoint = Endpoint()

    class Channel:
        name = "/c/1"
        lobby = Lobby()

    with bus.subscribe(Endpoint.pond, maxsize=2) as sub, \
            bus.subscribe(Pond(), maxsize=2) as elsewhere:
        assert bus.active and bus.subscriber_count == 2
        for i in range(5):
            bus.emit("broadcast", Channel(), n=i)
        assert [(await sub.get())["n"] for _ in range(2)] == [0, 1]
        assert sub.dropped == 3
        bus.emit("broadcast", Channel(), n=5)
        event = await sub.get()
        assert (event["n"], event["dropped"]) == (5, 3)
        bus.emit("broadcast", Channel(), n=6)
        assert "dropped" not in await sub.get()
        assert elsewhere.dropped == 0 and not elsewhere._queue  # another pond's events
    assert not bus.active and bus.subscriber_count == 0


def test_channel_filter() -> None:
    assert channel_filter(None)("/x") and channel_filter("")("/x")
    assert channel_filter("/a/*")("/a/b") and not channel_filter("/a/*")("/b")
    assert channel_filter("/a")("/a") and not channel_filter("/a")("/a/b")


async def test_closed_connection_leaves_and_is_counted(admin_env: Any) -> None:
    admin = await admin_env.start()
    events = await admin_env.events(admin, f"?channel={ROOM}")
    alice = await admin_env.ws(admin, "alice")
    await alice.join(ROOM)
    await events.expect("join", user_id=alice.user_id)
    await events.expect("presence", kind="JOIN")
    await alice.close()
    await events.expect("presence", kind="LEAVE")
    await events.expect("leave", user_id=alice.user_id)
    # The leave and the connection's removal happen in the same step on the server.
    overview = await admin.json("/overview")
    assert overview["connection_count"] == 0 and overview["channel_count"] == 0
    assert overview["counters"]["connections_opened"] == 1
    assert overview["counters"]["connections_closed"] == 1


async def test_open_streams_end_when_the_server_shuts_down() -> None:
    """pondctl's server closes the PondSocket first: the stream ends at once instead of
    holding the shutdown until uvicorn's graceful timeout (30 s here)."""
    import asyncio

    import httpx

    from pondsocket import AdminOptions
    from pondsocket.asgi import PondASGIApp
    from tests.asgi.chat_app import build_chat
    from tests.servers import start_uvicorn

    from .conftest import TOKEN, AdminEvents

    app = PondASGIApp(build_chat(), admin=AdminOptions(token=TOKEN))
    server = await start_uvicorn(app, pond_server=True, timeout_graceful_shutdown=30)
    async with httpx.AsyncClient(timeout=10) as http, http.stream(
            "GET", server.http_url("/_pond/admin/events"),
            headers={**AUTH, "accept": "text/event-stream"}) as response:
        events = AdminEvents(response)
        await events.subscribed()
        async with asyncio.timeout(5):
            await server.stop()
            rest = [chunk async for chunk in events._chunks]
    assert b"".join(rest) == b""  # the response ended cleanly, without another event
    assert not BUS.active
