"""The join limits answer the same over WebSocket (both servers) and SSE."""

from __future__ import annotations

from pondsocket import Options
from tests.asgi.test_asgi_sse import join_frame, post

LONG = "/room/" + "x" * 60_000
NAME_TOO_LONG = {"code": 400, "message": "Channel name too long: 60006 characters, at most 256 "
                                         "(max_channel_name_length)"}


async def test_join_limits_over_websocket(ws_server, ws_connect, chat_app):
    server = await ws_server(chat_app(Options(max_channels_per_connection=2)))
    ada = await ws_connect(server, "/api/socket?name=ada")
    rid = await ada.send_msg("JOIN_CHANNEL", LONG, request_id="j-long")
    await ada.expect("SYSTEM", "UNAUTHORIZED", LONG, rid, NAME_TOO_LONG)
    rid = await ada.send_msg("JOIN_CHANNEL", "/room/a\nb", request_id="j-nl")
    await ada.expect("SYSTEM", "UNAUTHORIZED", "/room/a\nb", rid, {
        "code": 400, "message": "Channel name contains the control character '\\n'"})
    for room in ("/room/1", "/room/2"):
        await ada.join(room)
        await ada.expect("PRESENCE", "JOIN", room)
    rid = await ada.send_msg("JOIN_CHANNEL", "/room/3", request_id="j-3")
    await ada.expect("SYSTEM", "UNAUTHORIZED", "/room/3", rid, {
        "code": 429, "message": "Too many channels: a connection may be in at most 2 "
                                "(max_channels_per_connection)"})


async def test_join_limits_over_sse(start_server, sse_open, http_client, chat_app):
    server = await start_server(chat_app())
    stream = await sse_open(server, "/api/socket?name=ada")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    token = stream.response.headers["x-connection-id"]
    answer = await post(http_client, server, "/api/socket", join_frame(LONG, "j-long"), token)
    assert answer.status_code == 204
    await stream.expect("SYSTEM", "UNAUTHORIZED", LONG, "j-long", NAME_TOO_LONG)
    answer = await post(http_client, server, "/api/socket", join_frame("/room/*", "j-star"),
                        token)
    await stream.expect("SYSTEM", "UNAUTHORIZED", "/room/*", "j-star",
                        {"code": 400, "message": "Channel name contains '*'"})
