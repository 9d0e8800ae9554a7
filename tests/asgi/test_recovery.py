"""Recovery on rejoin over real sockets: both WebSocket servers and SSE (uvicorn)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pondsocket import EventContext, JoinContext, PondSocket
from pondsocket.asgi import PondASGIApp
from pondsocket.history import enable_history

pytestmark = pytest.mark.timeout(30)
CHANNEL = "/room/1"


def history_pond() -> PondSocket:
    pond = PondSocket()

    async def connect(ctx) -> None:
        ctx.accept()

    async def join(ctx: JoinContext) -> None:
        await ctx.accept()

    lobby = pond.create_endpoint("/ws", connect).create_channel("/room/:id", join)

    async def say(ctx: EventContext) -> None:
        await ctx.broadcast("say", ctx.payload)

    lobby.on_message("say", say)
    enable_history(lobby)
    return pond


def frame(action: str, event: str, payload: dict[str, Any], request_id: str) -> dict[str, Any]:
    return {"action": action, "event": event, "channelName": CHANNEL, "requestId": request_id,
            "payload": payload}


async def raw(client) -> dict[str, Any]:
    return json.loads(await client.ws.recv())


async def test_a_websocket_client_recovers_what_it_missed(ws_server, ws_connect):
    server = await ws_server(history_pond())
    sender = await ws_connect(server, "/ws")
    await sender.join(CHANNEL)
    first = await ws_connect(server, "/ws?pond_ext=history")
    await first.send(frame("JOIN_CHANNEL", "JOIN_CHANNEL", {}, "j1"))
    ack = (await raw(first))["payload"]
    for n in range(3):
        await sender.send(frame("BROADCAST", "say", {"n": n}, f"s{n}"))
        assert (await sender.recv())["payload"] == {"n": n}  # upstream frame: five fields
        got = await raw(first)
        assert (got["offset"], got["payload"]) == (n + 1, {"n": n})
    await first.close()
    for n in range(3, 6):  # missed
        await sender.send(frame("BROADCAST", "say", {"n": n}, f"s{n}"))
        await sender.recv()
    again = await ws_connect(server, "/ws?pond_ext=history")
    await again.send(frame("JOIN_CHANNEL", "JOIN_CHANNEL",
                           {"pond_recover": {"epoch": ack["epoch"], "offset": 3}}, "j2"))
    answer = await raw(again)
    assert answer["payload"] == {"recovered": True, "epoch": ack["epoch"], "offset": 3}
    await sender.send(frame("BROADCAST", "say", {"n": 6}, "s6"))
    got = [await raw(again) for _ in range(4)]
    assert [(f["offset"], f["payload"]["n"]) for f in got] == [(4, 3), (5, 4), (6, 5), (7, 6)]


async def test_an_sse_client_recovers_what_it_missed(start_server, sse_open, http_client):
    server = await start_server(PondASGIApp(history_pond()))

    async def post(body: dict[str, Any], token: str) -> None:
        response = await http_client.post(server.http_url("/ws"), content=json.dumps(body),
                                          headers={"x-connection-id": token,
                                                   "content-type": "application/json"})
        assert response.status_code < 300, response.text

    def data(lines: list[str]) -> dict[str, Any]:
        assert len(lines) == 1 and lines[0].startswith("data: "), lines
        return json.loads(lines[0][len("data: "):])

    sender = await sse_open(server, "/ws")
    await sender.expect("CONNECT", "CONNECTION")
    await post(frame("JOIN_CHANNEL", "JOIN_CHANNEL", {}, "j0"), sender.token)
    await sender.expect("SYSTEM", "ACKNOWLEDGE", payload={})
    stream = await sse_open(server, "/ws?pond_ext=history")
    assert data(await stream.block())["payload"]["extensions"] == ["history"]
    await post(frame("JOIN_CHANNEL", "JOIN_CHANNEL", {}, "j1"), stream.token)
    epoch = data(await stream.block())["payload"]["epoch"]
    for n in range(4):
        await post(frame("BROADCAST", "say", {"n": n}, f"s{n}"), sender.token)
        await sender.expect("BROADCAST", "say")
    again = await sse_open(server, "/ws?pond_ext=history")
    await again.block()
    await post(frame("JOIN_CHANNEL", "JOIN_CHANNEL",
                     {"pond_recover": {"epoch": epoch, "offset": 1}}, "j2"), again.token)
    assert data(await again.block())["payload"] == {"recovered": True, "epoch": epoch,
                                                    "offset": 1}
    got = [data(await again.block()) for _ in range(3)]
    assert [(f["offset"], f["payload"]["n"]) for f in got] == [(2, 1), (3, 2), (4, 3)]
