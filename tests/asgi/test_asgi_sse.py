"""Server-Sent Events over a real uvicorn: GET streams, POST sends, DELETE disconnects."""

from __future__ import annotations

import json
import uuid

import pytest
from httpx_sse import aconnect_sse

from pondsocket import Options
from pondsocket.asgi import SSEOptions

pytestmark = pytest.mark.timeout(30)

PLAIN = "text/plain; charset=utf-8"


def join_frame(channel: str, request_id: str, params: dict | None = None) -> dict:
    return {"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL", "channelName": channel,
            "requestId": request_id, "payload": params or {}}


def message(channel: str, event: str, payload: dict, request_id: str) -> dict:
    return {"action": "BROADCAST", "event": event, "channelName": channel,
            "requestId": request_id, "payload": payload}


async def post(client, server, path: str, body, token: str | None):
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["x-connection-id"] = token
    content = body if isinstance(body, bytes | str) else json.dumps(body)
    return await client.post(server.http_url(path), content=content, headers=headers)


async def test_stream_headers_and_connect_frame(start_server, sse_open, chat_app):
    server = await start_server(chat_app())
    stream = await sse_open(server, "/api/socket?name=ada")
    response = stream.response
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "text/event-stream; charset=utf-8"
    assert headers["cache-control"] == "no-cache, no-transform"
    assert headers["x-accel-buffering"] == "no"
    assert "content-length" not in headers
    assert "access-control-allow-origin" not in headers  # no CORS unless configured
    token = headers["x-connection-id"]
    assert len(token) >= 32

    lines = await stream.block()
    assert len(lines) == 1 and lines[0].startswith("data: {")  # no event: line by default
    frame = json.loads(lines[0][len("data: "):])
    assert (frame["action"], frame["event"], frame["channelName"]) == (
        "CONNECT", "CONNECTION", "GATEWAY")
    assert frame["payload"]["connectionId"] == token
    assert frame["payload"]["id"] != token
    assert str(uuid.UUID(frame["payload"]["id"])) == frame["payload"]["id"]


async def test_post_join_ack_presence_and_messages_with_a_websocket_peer(
        start_server, sse_open, ws_connect, http_client, chat_app):
    server = await start_server(chat_app())
    stream = await sse_open(server, "/api/socket?name=sam")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")

    response = await post(http_client, server, "/api/socket",
                          join_frame("/room/1", "sse-join"), stream.token)
    assert (response.status_code, response.content) == (204, b"")
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "sse-join", {})
    both = {"presence": [{"name": "ada"}, {"name": "sam"}], "changed": {"name": "sam"}}
    await stream.expect("PRESENCE", "JOIN", "/room/1", payload=both)
    await ada.expect("PRESENCE", "JOIN", "/room/1", payload=both)

    # SSE -> everyone
    response = await post(http_client, server, "/api/socket?name=sam",
                          message("/room/1", "shout", {"from": "sam"}, "s1"), stream.token)
    assert response.status_code == 204
    await stream.expect("BROADCAST", "shout", "/room/1", payload={"from": "sam"})
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"from": "sam"})
    # WebSocket -> SSE
    await ada.send_msg("BROADCAST", "/room/1", "shout", {"from": "ada"})
    await ada.expect("BROADCAST", "shout", "/room/1", payload={"from": "ada"})
    await stream.expect("BROADCAST", "shout", "/room/1", payload={"from": "ada"})
    # reply to the SSE sender only
    await post(http_client, server, "/api/socket", message("/room/1", "ping", {"q": 1}, "p1"),
               stream.token)
    await stream.expect("SYSTEM", "pong", "/room/1", "p1", {"echo": {"q": 1}})
    # leave
    await post(http_client, server, "/api/socket",
               {"action": "LEAVE_CHANNEL", "event": "LEAVE_CHANNEL", "channelName": "/room/1",
                "requestId": "l1", "payload": {}}, stream.token)
    await stream.expect("SYSTEM", "EXIT_ACKNOWLEDGE", "/room/1", "l1", {})
    await ada.expect("PRESENCE", "LEAVE", "/room/1",
                     payload={"presence": [{"name": "ada"}], "changed": {"name": "sam"}})


async def test_post_and_delete_need_the_right_token_on_the_right_endpoint(
        start_server, sse_open, ws_connect, http_client, chat_app):
    server = await start_server(chat_app())
    stream = await sse_open(server, "/api/socket")
    connect = await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    frame = join_frame("/room/1", "j")

    async def status(path: str, token: str | None, method: str = "POST") -> tuple[int, str]:
        if method == "POST":
            response = await post(http_client, server, path, frame, token)
        else:
            headers = {} if token is None else {"x-connection-id": token}
            response = await http_client.delete(server.http_url(path), headers=headers)
        if response.status_code != 204:
            assert response.headers["content-type"] == PLAIN
        return response.status_code, response.text

    missing = (400, "X-Connection-ID header required")
    not_found = (404, "connection not found")
    assert await status("/api/socket", None) == missing
    assert await status("/api/socket", "", "POST") == missing
    assert await status("/api/socket", None, "DELETE") == missing
    assert await status("/api/socket", "no-such-token") == not_found
    assert await status("/api/socket", "no-such-token", "DELETE") == not_found
    # the token is scoped to its endpoint
    assert await status("/other", stream.token) == not_found
    assert await status("/other", stream.token, "DELETE") == not_found
    assert await status("/elsewhere", stream.token) == (
        404, "PondSocket: no endpoint at this path")
    # the user id is not a credential
    assert await status("/api/socket", connect["payload"]["id"]) == not_found
    # nor is a WebSocket user's id: it cannot be used to send as, or disconnect, that user
    ada = await ws_connect(server, "/api/socket?name=ada")
    assert await status("/api/socket", ada.user_id) == not_found
    assert await status("/api/socket", ada.user_id, "DELETE") == not_found
    await ada.join("/room/1")

    # none of this disturbed the stream: the right token still works
    assert await status("/api/socket", stream.token) == (204, "")
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "j")


async def test_delete_ends_the_stream_and_forgets_the_token(
        start_server, sse_open, ws_connect, http_client, chat_app):
    server = await start_server(chat_app())
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    stream = await sse_open(server, "/api/socket?name=sam")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    await post(http_client, server, "/api/socket", join_frame("/room/1", "j"), stream.token)
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "j")
    await stream.expect("PRESENCE", "JOIN", "/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")

    response = await http_client.delete(server.http_url("/api/socket"),
                                        headers={"x-connection-id": stream.token})
    assert (response.status_code, response.content) == (204, b"")
    await stream.ended_cleanly()
    await ada.expect("PRESENCE", "LEAVE", "/room/1", payload={
        "presence": [{"name": "ada"}], "changed": {"name": "sam"}})
    response = await post(http_client, server, "/api/socket", join_frame("/room/2", "j2"),
                          stream.token)
    assert (response.status_code, response.text) == (404, "connection not found")


async def test_invalid_post_body_is_204_with_an_error_frame_on_the_stream(
        start_server, sse_open, http_client, chat_app):
    server = await start_server(chat_app())
    stream = await sse_open(server, "/api/socket")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    response = await post(http_client, server, "/api/socket", "{not json", stream.token)
    assert (response.status_code, response.content) == (204, b"")
    frame = await stream.expect("ERROR", "INVALID_MESSAGE", "GATEWAY")
    assert frame["payload"]["code"] == 400
    assert frame["payload"]["message"].startswith("wireMessage: Invalid JSON")

    response = await post(http_client, server, "/api/socket",
                          {**join_frame("/room/1", "bad"), "payload": None}, stream.token)
    assert response.status_code == 204
    await stream.expect("ERROR", "INVALID_MESSAGE", "GATEWAY", "bad", {
        "code": 400, "message": "payload: Expected object", "error": "payload: Expected object"})

    response = await post(http_client, server, "/api/socket", b"\xff\xfe", stream.token)
    assert response.status_code == 204
    await stream.expect("ERROR", "INVALID_MESSAGE", "GATEWAY", payload={
        "code": 400, "message": "wireMessage: Invalid UTF-8",
        "error": "wireMessage: Invalid UTF-8"})

    # the legacy ping is ignored here too: the next frame answers the next request
    response = await post(http_client, server, "/api/socket", {"action": "ping"}, stream.token)
    assert response.status_code == 204
    await post(http_client, server, "/api/socket", join_frame("/room/1", "ok"), stream.token)
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "ok")


async def test_post_over_max_message_size_is_413(start_server, sse_open, http_client,
                                                 chat_app):
    server = await start_server(chat_app(Options(max_message_size=1024)))
    stream = await sse_open(server, "/api/socket")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    big = join_frame("/room/1", "big", {"blob": "x" * 5000})
    response = await post(http_client, server, "/api/socket", big, stream.token)
    assert (response.status_code, response.text) == (
        413, "Message exceeds the limit of 1024 bytes")
    assert response.headers["content-type"] == PLAIN
    # nothing was dispatched, and the connection still works
    await post(http_client, server, "/api/socket", join_frame("/room/1", "small"), stream.token)
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "small")


@pytest.mark.parametrize(("path", "status", "body"), [
    ("/api/socket?token=bad", 401, "Invalid token"),
    ("/api/socket?token=boom", 500, "Internal server error"),
    ("/nowhere", 404, "PondSocket: no endpoint at this path"),
])
async def test_declined_stream_gets_status_and_text_body(start_server, http_client, chat_app,
                                                         path, status, body):
    server = await start_server(chat_app())
    response = await http_client.get(server.http_url(path),
                                     headers={"accept": "text/event-stream"})
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["content-type"] == PLAIN
    assert "x-connection-id" not in response.headers


async def test_other_http_requests_are_404(start_server, http_client, chat_app):
    server = await start_server(chat_app())
    response = await http_client.get(server.http_url("/api/socket"))  # no event-stream accept
    assert response.status_code == 404
    assert response.text.startswith("PondSocket: not found")
    response = await http_client.put(server.http_url("/api/socket"), content=b"{}")
    assert response.status_code == 404


async def test_max_connections_applies_to_sse(start_server, sse_open, http_client, chat_app):
    server = await start_server(chat_app(Options(max_connections=1)))
    stream = await sse_open(server, "/api/socket")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    response = await http_client.get(server.http_url("/api/socket"),
                                     headers={"accept": "text/event-stream"})
    assert (response.status_code, response.text) == (503, "Too many connections")


async def test_keepalive_comment_on_silence(start_server, sse_open, http_client, chat_app):
    server = await start_server(chat_app(sse=SSEOptions(keepalive_interval=0.2)))
    stream = await sse_open(server, "/api/socket")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    assert await stream.block() == [": keepalive"]
    assert await stream.block() == [": keepalive"]
    # frames still flow between keep-alives
    await post(http_client, server, "/api/socket", join_frame("/room/1", "j"), stream.token)
    while (lines := await stream.block()) == [": keepalive"]:
        pass
    assert json.loads(lines[0][len("data: "):])["event"] == "ACKNOWLEDGE"


async def test_named_events(start_server, http_client, chat_app):
    server = await start_server(chat_app(sse=SSEOptions(named_events=True)))
    url = server.http_url("/api/socket?name=ada")
    async with aconnect_sse(http_client, "GET", url) as source:
        token = source.response.headers["x-connection-id"]
        events = source.aiter_sse()
        first = await anext(events)
        assert first.event == "CONNECTION"
        assert json.loads(first.data)["payload"]["connectionId"] == token
        await post(http_client, server, "/api/socket", join_frame("/room/1", "j"), token)
        ack = await anext(events)
        assert (ack.event, json.loads(ack.data)["requestId"]) == ("ACKNOWLEDGE", "j")
        presence = await anext(events)
        assert (presence.event, json.loads(presence.data)["action"]) == ("JOIN", "PRESENCE")


async def test_named_event_raw_lines(start_server, sse_open, chat_app):
    server = await start_server(chat_app(sse=SSEOptions(named_events=True)))
    stream = await sse_open(server, "/api/socket")
    lines = await stream.block()
    assert lines[0] == "event: CONNECTION"
    assert len(lines) == 2 and lines[1].startswith("data: {\"action\":\"CONNECT\"")


async def test_client_disconnect_leaves_channels(start_server, sse_open, ws_connect,
                                                 http_client, chat_app):
    server = await start_server(chat_app())
    ada = await ws_connect(server, "/api/socket?name=ada")
    await ada.join("/room/1")
    await ada.expect("PRESENCE", "JOIN", "/room/1")
    stream = await sse_open(server, "/api/socket?name=sam")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    await post(http_client, server, "/api/socket", join_frame("/room/1", "j"), stream.token)
    await ada.expect("PRESENCE", "JOIN", "/room/1")

    await stream.response.aclose()  # the client goes away
    await ada.expect("PRESENCE", "LEAVE", "/room/1", payload={
        "presence": [{"name": "ada"}], "changed": {"name": "sam"}})
    response = await post(http_client, server, "/api/socket", join_frame("/room/2", "j2"),
                          stream.token)
    assert response.status_code == 404


async def test_cors_headers_when_configured(start_server, sse_open, http_client, chat_app):
    sse = SSEOptions(cors_origins=("https://app.example",))
    server = await start_server(chat_app(sse=sse))
    origin = {"origin": "https://app.example"}
    stream = await sse_open(server, "/api/socket", headers=origin)
    assert stream.response.headers["access-control-allow-origin"] == "https://app.example"
    assert stream.response.headers["access-control-expose-headers"] == "X-Connection-ID"
    response = await http_client.options(server.http_url("/api/socket"), headers={
        **origin, "access-control-request-method": "POST"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-methods"] == "GET, POST, DELETE, OPTIONS"
    assert "X-Connection-ID" in response.headers["access-control-allow-headers"]
    response = await http_client.options(server.http_url("/api/socket"), headers={
        "origin": "https://evil.example"})
    assert response.status_code == 404
    assert "access-control-allow-origin" not in response.headers


async def test_frames_queued_before_a_server_side_close_are_delivered(
        start_server, sse_open, http_client, chat_app):
    app = chat_app()
    server = await start_server(app)
    stream = await sse_open(server, "/api/socket?name=sam")
    connect = await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    await post(http_client, server, "/api/socket", join_frame("/room/1", "j"), stream.token)
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1")
    await stream.expect("PRESENCE", "JOIN", "/room/1")

    endpoint = app.pond.endpoints[0]
    channel = await endpoint.lobbies[0].get_channel("/room/1")
    await channel.broadcast("goodbye", {"last": True})
    await endpoint.close_connection(connect["payload"]["id"])
    await stream.expect("BROADCAST", "goodbye", "/room/1", payload={"last": True})
    await stream.ended_cleanly()


async def test_chunked_post_body(start_server, sse_open, http_client, chat_app):
    server = await start_server(chat_app(Options(max_message_size=1024)))
    stream = await sse_open(server, "/api/socket")
    await stream.expect("CONNECT", "CONNECTION", "GATEWAY")
    body = json.dumps(join_frame("/room/1", "chunked")).encode()

    async def chunks(data: bytes, size: int):
        for i in range(0, len(data), size):
            yield data[i:i + size]

    response = await http_client.post(server.http_url("/api/socket"), content=chunks(body, 7),
                                      headers={"x-connection-id": stream.token})
    assert response.status_code == 204
    await stream.expect("SYSTEM", "ACKNOWLEDGE", "/room/1", "chunked")

    big = json.dumps(join_frame("/room/2", "big", {"blob": "x" * 3000})).encode()
    response = await http_client.post(server.http_url("/api/socket"),
                                      content=chunks(big, 500),
                                      headers={"x-connection-id": stream.token})
    assert (response.status_code, response.text) == (
        413, "Message exceeds the limit of 1024 bytes")
