"""Pieces of the SDK and of pondctl's configuration that need no server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from pondsocket import PondEvent, PondSchema
from pondsocket_tools.cli_client.config import (
    DEFAULT_URL,
    ConfigError,
    parse_headers,
    parse_json_object,
    parse_pairs,
    resolve,
)
from pondsocket_tools.cli_client.exitcodes import describe
from pondsocket_tools.cli_client.identity import display_name, without_own
from pondsocket_tools.client import (
    Backoff,
    ClientOptions,
    ConnectError,
    HandshakeRejectedError,
    JoinDeclinedError,
    Message,
    ProtocolError,
    QueueFullError,
    RequestTimeoutError,
    ServerError,
    build_channel_name,
    build_url,
    join_typed,
)
from pondsocket_tools.client.outbound import Outbound, OutboundQueue
from pondsocket_tools.client.protocol import error_details, parse_server_frames
from pondsocket_tools.client.streams import EventStream

from .conftest import TIMEOUT, connected

# -- backoff -----------------------------------------------------------------------------


def test_backoff_grows_exponentially_up_to_the_maximum() -> None:
    backoff = Backoff(initial=0.5, maximum=4, factor=2, jitter=0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_backoff_jitter_shortens_by_a_random_fraction() -> None:
    backoff = Backoff(initial=1, maximum=10, jitter=0.5, rng=lambda: 1.0)
    assert backoff.next_delay() == 0.5  # the largest reduction
    backoff = Backoff(initial=1, maximum=10, jitter=0.5, rng=lambda: 0.0)
    assert backoff.next_delay() == 1.0


def test_backoff_survives_many_attempts() -> None:
    backoff = Backoff(initial=1, maximum=30, jitter=0)
    backoff.attempt = 10_000
    assert backoff.next_delay() == 30


@pytest.mark.parametrize("kwargs", [{"jitter": 2}, {"factor": 0.5}, {"initial": -1}])
def test_backoff_rejects_bad_settings(kwargs) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        ClientOptions(queue_overflow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ClientOptions(join_timeout=0)


# -- URLs --------------------------------------------------------------------------------


def test_build_url_fits_the_scheme_and_merges_params() -> None:
    assert build_url("http://h:1/api?x=1", {"token": "t"}) == "ws://h:1/api?x=1&token=t"
    assert build_url("wss://h/api", None, "sse") == "https://h/api"
    assert build_url("ws://h", {"a": 1}) == "ws://h/?a=1"
    with pytest.raises(ValueError, match="unsupported URL"):
        build_url("ftp://h/", None)
    with pytest.raises(ValueError, match="no host"):
        build_url("ws:///path", None)


# -- protocol ----------------------------------------------------------------------------


def test_parse_frames_single_and_newline_batched() -> None:
    one = '{"action":"SYSTEM","event":"ACKNOWLEDGE","channelName":"/a","requestId":"r",' \
          '"payload":{}}'
    assert len(parse_server_frames(one)) == 1
    assert len(parse_server_frames(one + "\n" + one + "\n")) == 2
    with pytest.raises(ProtocolError):
        parse_server_frames("nope")
    with pytest.raises(ProtocolError, match="unknown action"):
        parse_server_frames('{"action":"WHAT","event":"","channelName":"","requestId":"",'
                            '"payload":{}}')
    with pytest.raises(ProtocolError, match="payload"):
        parse_server_frames('{"action":"SYSTEM","event":"","channelName":"","requestId":"",'
                            '"payload":[]}')


@pytest.mark.parametrize(("payload", "event", "expected"), [
    ({"code": 404, "message": "gone"}, "HANDLER_NOT_FOUND", (404, "HANDLER_NOT_FOUND", "gone")),
    ({"code": "UNAUTHORIZED_JOIN_REQUEST", "message": "no", "status": 403},
     "UNAUTHORIZED_JOIN_REQUEST", (403, "UNAUTHORIZED_JOIN_REQUEST", "no")),
    ({"error": "payload: Expected object"}, "INVALID_MESSAGE",
     (None, "INVALID_MESSAGE", "payload: Expected object")),
    ({"channel": "/x"}, "NOT_FOUND", (404, "NOT_FOUND", "channel /x not found")),
    ({"error": {"message": "deep", "status": 500}}, "CHANNEL_ERROR",
     (None, "CHANNEL_ERROR", "deep")),
])
def test_error_details_of_every_server(payload, event, expected) -> None:
    assert error_details(payload, event) == expected


def test_error_messages_read_well() -> None:
    assert str(ServerError("nope", code=404, kind="HANDLER_NOT_FOUND", channel="/a")) == \
        "404 HANDLER_NOT_FOUND on /a: nope"
    assert str(JoinDeclinedError("denied", code=403, channel="/a")) == \
        "join of /a declined (403): denied"
    assert str(HandshakeRejectedError(401, "Invalid token")) == \
        "server refused the connection: HTTP 401 Invalid token"
    assert not HandshakeRejectedError(429).permanent and HandshakeRejectedError(404).permanent
    assert str(RequestTimeoutError("/a", "ping", 0.5)) == "no reply to 'ping' on /a within 0.5s"
    error = Message("/a", "E", {"code": 400, "message": "bad"}, "ERROR", "r").error
    assert error is not None and (error.code, error.request_id) == (400, "r")


# -- the outbound queue ------------------------------------------------------------------


def data(channel: str, n: int) -> Outbound:
    return Outbound(f"{channel}:{n}", "BROADCAST", channel, f"{channel}-{n}")


async def test_queue_keeps_order_through_hold_and_release() -> None:
    queue = OutboundQueue(10)
    queue.put(data("/a", 1), ready=True)
    queue.put(data("/a", 2), ready=True)
    queue.put_control(Outbound("join", "JOIN_CHANNEL", "/b", "j"))
    queue.hold_unsent()  # disconnected: messages go back to their channel, joins are dropped
    queue.put(data("/a", 3), ready=False)
    assert len(queue) == 3 and not queue.ready
    queue.release("/a")
    assert [queue.pop().text for _ in range(3)] == ["/a:1", "/a:2", "/a:3"]
    assert queue.pop() is None


async def test_queue_overflow_policies() -> None:
    queue = OutboundQueue(2)
    queue.put(data("/a", 1), ready=False)
    queue.put(data("/b", 1), ready=True)
    with pytest.raises(QueueFullError):
        queue.put(data("/a", 2), ready=False)
    queue = OutboundQueue(2, "drop_oldest")
    queue.put(data("/a", 1), ready=False)
    queue.put(data("/b", 1), ready=True)
    dropped = queue.put(data("/a", 2), ready=False)
    assert dropped is not None and dropped.text == "/a:1"
    assert queue.discard("/a-2") and len(queue) == 1
    assert [i.text for i in queue.drop_channel("/b")] == ["/b:1"] and len(queue) == 0


# -- streams -----------------------------------------------------------------------------


async def test_stream_backlog_goes_to_the_first_interested_subscriber() -> None:
    stream: EventStream[int] = EventStream("test", limit=3)
    for n in range(5):
        stream.publish(n)
    evens = stream.subscribe(lambda n: n % 2 == 0)
    assert [await evens.get(TIMEOUT) for _ in range(2)] == [2, 4]  # the backlog keeps 3
    odds = stream.subscribe(lambda n: n % 2 == 1)
    assert await odds.get(TIMEOUT) == 3
    stream.publish(6)
    stream.close(ValueError("ended"))
    assert await evens.get(TIMEOUT) == 6
    with pytest.raises(ValueError, match="ended"):
        await evens.get(TIMEOUT)


async def test_stream_slow_subscriber_drops_the_oldest() -> None:
    stream: EventStream[int] = EventStream("test", limit=2)
    sub = stream.subscribe()
    for n in range(4):
        stream.publish(n)
    assert sub.dropped == 2 and stream.dropped == 2
    assert [await sub.get(TIMEOUT) for _ in range(2)] == [2, 3]
    stream.close()
    assert [n async for n in sub] == []


async def test_stream_closed_subscription_returns_its_items() -> None:
    stream: EventStream[int] = EventStream("test", limit=10)
    async with stream.subscribe() as sub:
        stream.publish(1)
    later = stream.subscribe()
    assert await later.get(TIMEOUT) == 1  # the closed subscription gave it back
    with pytest.raises(StopAsyncIteration):
        await sub.get(TIMEOUT)
    assert later.pending() == 0


# -- typed helpers -----------------------------------------------------------------------


@dataclass
class Ping:
    n: int


@dataclass
class Pong:
    time: float
    echo: dict


@dataclass
class Member:
    name: str
    status: str
    role: str


PING = PondEvent("ping", Ping, Pong)
CHAT = PondSchema("chat", presence_type=Member)


def test_build_channel_name() -> None:
    assert build_channel_name("/chat/:room", room=1) == "/chat/1"
    assert build_channel_name("/a/:x/b/:y", {"x": "a b", "y": "c/d"}) == "/a/a%20b/b/c%2Fd"
    with pytest.raises(KeyError, match="room"):
        build_channel_name("/chat/:room")


async def test_typed_channel(demo_server, make_client) -> None:
    client = await connected(make_client, demo_server, "ada")
    chat = await join_typed(client, CHAT, build_channel_name("/chat/:room", room="typed"))
    pong = await chat.request(PING, Ping(7))
    assert isinstance(pong, Pong) and pong.echo == {"n": 7}
    await chat.raw.presence_events().get(TIMEOUT)
    assert chat.presence == [Member("ada", "online", "member")]


# -- pondctl configuration ---------------------------------------------------------------


@pytest.fixture
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("PONDCTL_CONFIG", raising=False)
    return tmp_path / "pondctl" / "config.toml"


def test_defaults_point_at_the_demo(no_user_config: Path) -> None:
    settings = resolve()
    assert (settings.url, settings.params, settings.transport, settings.timeout) == (
        DEFAULT_URL, {"token": "demo"}, "websocket", 10.0)


def test_config_file_then_options(no_user_config: Path) -> None:
    no_user_config.parent.mkdir(parents=True)
    no_user_config.write_text('url = "wss://example.com/socket"\ntoken = "s3cret"\n'
                              'transport = "sse"\ntimeout = 3\n[params]\nname = "ada"\n'
                              '[join_params]\nrole = "viewer"\n')
    settings = resolve()
    assert (settings.url, settings.params, settings.transport, settings.timeout) == (
        "wss://example.com/socket", {"name": "ada", "token": "s3cret"}, "sse", 3.0)
    assert settings.join_params == {"role": "viewer"} and settings.config_path
    settings = resolve(url="ws://other/x", token="t2", params=("name=bob",),
                       transport="websocket", timeout=1.5, join_params=("n:=2",))
    assert (settings.url, settings.params, settings.transport, settings.timeout) == (
        "ws://other/x", {"name": "bob", "token": "t2"}, "websocket", 1.5)
    assert settings.join_params == {"role": "viewer", "n": 2}


def test_no_default_token_for_other_servers(no_user_config: Path) -> None:
    assert resolve(url="ws://other/x").params == {}


@pytest.mark.parametrize(("text", "message"), [
    ("url = ", "not valid TOML"),
    ("colour = 1", "unknown key"),
    ("params = 1", "must be a table"),
    ('transport = "carrier-pigeon"', "transport must be"),
    ("timeout = -1", "timeout must be"),
])
def test_bad_config_files(no_user_config: Path, text: str, message: str) -> None:
    no_user_config.parent.mkdir(parents=True)
    no_user_config.write_text(text)
    with pytest.raises(ConfigError, match=message):
        resolve()


def test_explicit_config_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(config=str(tmp_path / "missing.toml"))


def test_pairs_and_json_arguments() -> None:
    assert parse_pairs(["a=1", "b=x=y", "c:=[1]", "d:={\"k\": true}"], "-j",
                       json_values=True) == {"a": "1", "b": "x=y", "c": [1], "d": {"k": True}}
    assert parse_pairs(["c:=1"], "-p", json_values=False) == {"c:": "1"}
    for bad in (["novalue"], ["=x"], ["n:=nope"]):
        with pytest.raises(ConfigError):
            parse_pairs(bad, "-j", json_values=True)
    assert parse_json_object('{"a": 1}') == {"a": 1}
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_json_object("{a: 1}")
    with pytest.raises(ConfigError, match="expected a JSON object"):
        parse_json_object("[1]")


def test_exit_codes_of_errors() -> None:
    assert describe(HandshakeRejectedError(401, "x"), token_sent=False)[0] == 4
    assert "no token was sent" in describe(HandshakeRejectedError(401), token_sent=False)[2]
    assert describe(ConnectError("x"))[0] == 3
    assert describe(JoinDeclinedError("x", code=403, channel="/a"))[0] == 5
    assert describe(ServerError("x", code=500))[0] == 6
    assert describe(RequestTimeoutError("/a", "e", 1))[0] == 7
    assert describe(RuntimeError("x"))[0] == 1


def test_headers_and_cookies_arguments() -> None:
    headers = parse_headers(["X-Team: blue", "x-team: red", "Cookie: a=1"],
                            ["b=2; c=3", "d=4"])
    # The later X-Team replaces the earlier one whatever its case; cookies join -H Cookie.
    assert headers == {"x-team": "red", "Cookie": "a=1; b=2; c=3; d=4"}
    assert parse_headers(["Authorization:Bearer  x "], []) == {"Authorization": "Bearer  x"}
    for bad in (["nocolon"], [": v"], ["bad name: v"]):
        with pytest.raises(ConfigError, match="expected 'Name: value'"):
            parse_headers(bad, [])
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        parse_headers([], ["a=1; novalue"])


def test_own_presence_entry_is_left_out_once() -> None:
    ada = {"name": "ada", "status": "online"}
    bob = {"name": "bob"}
    assert without_own([ada, bob, dict(ada)], ada) == [bob, ada]
    assert without_own([ada, bob], None) == [ada, bob]
    assert without_own([bob], ada) == [bob]


def test_display_name_prefers_the_tracked_name() -> None:
    assert display_name({"name": "tracked"}, {"name": "query"}, {"name": "join"}, "u1") == \
        "tracked"
    assert display_name({"status": "x"}, {"name": "query"}, {"name": "join"}, "u1") == "join"
    assert display_name(None, {"name": "query"}, {}, "u1") == "query"
    assert display_name(None, {}, {}, "u1") == "u1"
