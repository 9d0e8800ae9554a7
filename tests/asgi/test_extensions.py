"""Negotiating protocol extensions (``pond_ext``) over every server and SSE.

A client that asks learns what it was granted in its CONNECT frame; one that does not ask gets
exactly the upstream CONNECT frame; either way the connection handler never sees the
parameter.
"""

from __future__ import annotations

import pytest

from pondsocket import ConnectionContext, JoinContext, PondSocket, extensions
from pondsocket.asgi import PondASGIApp
from pondsocket.extensions import EXTENSIONS_PARAM, requested_extensions

pytestmark = pytest.mark.timeout(30)


def recording_pond(seen: list[dict[str, str]]) -> PondSocket:
    """A pond whose connection handler records the query it sees."""
    pond = PondSocket()

    async def connect(ctx: ConnectionContext) -> None:
        seen.append(dict(ctx.query))
        ctx.accept()

    async def join(ctx: JoinContext) -> None:
        await ctx.accept()

    pond.create_endpoint("/ws", connect).create_channel("/room/:id", join)
    return pond


@pytest.fixture
def implemented(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if this server implemented ``presence-diff`` and ``history``."""
    monkeypatch.setattr(extensions, "SUPPORTED",
                        frozenset({extensions.PRESENCE_DIFF, extensions.HISTORY}))


async def test_a_client_that_does_not_ask_gets_the_upstream_connect_frame(ws_server, ws_connect):
    seen: list[dict[str, str]] = []
    server = await ws_server(recording_pond(seen))
    client = await ws_connect(server, "/ws?token=t")
    assert set(client.connect_frame["payload"]) == {"id", "connectionId"}
    assert seen == [{"token": "t"}]


async def test_granted_extensions_are_announced_and_hidden_from_the_handler(
        ws_server, ws_connect, implemented):
    seen: list[dict[str, str]] = []
    pond = recording_pond(seen)
    server = await ws_server(pond)
    client = await ws_connect(server, f"/ws?token=t&{EXTENSIONS_PARAM}=history,nope,presence-diff")
    assert client.connect_frame["payload"]["extensions"] == ["history", "presence-diff"]
    assert seen == [{"token": "t"}]
    transport = pond.endpoints[0].connections[client.user_id].transport
    assert transport.extensions == {"history", "presence-diff"}


async def test_asking_for_unknown_extensions_gets_an_empty_list(ws_server, ws_connect):
    server = await ws_server(recording_pond([]))
    client = await ws_connect(server, f"/ws?{EXTENSIONS_PARAM}=teleport")
    assert client.connect_frame["payload"]["extensions"] == []
    # The connection works as any other.
    await client.join("/room/1")


async def test_sse_negotiates_the_same_way(start_server, sse_open, implemented):
    seen: list[dict[str, str]] = []
    server = await start_server(PondASGIApp(recording_pond(seen)))
    stream = await sse_open(server, f"/ws?a=1&{EXTENSIONS_PARAM}=history")
    connect = await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    assert connect["payload"]["extensions"] == ["history"]
    assert seen == [{"a": "1"}]


def test_requested_extensions_bounds_what_it_reads():
    query = {EXTENSIONS_PARAM: ",".join(["x" * 65, " a ", "", *[f"n{i}" for i in range(40)]]),
             "keep": "1"}
    names = requested_extensions(query)
    assert query == {"keep": "1"}
    assert "a" in names and "x" * 65 not in names and len(names) <= 16
