"""Drive the real upstream Python client (``pondsocket-client`` from PyPI) through one scenario.

Run by the client's own venv (``.cache/compat/pyclient-venv``, see install_clients.py)::

    python driver.py <ws-or-http-url-of-the-endpoint> <scenario>

Prints one JSON object per line: an observation per client-visible event (connection and
channel state changes, presence callbacks, messages, raw frames in and out, errors), then a
final ``{"result": "pass" | "fail", ...}`` line. Exits 0 on pass, 1 on fail, 2 on bad usage.
This file must not import the server package: the client's venv does not have it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Awaitable, Callable
from importlib.metadata import version
from typing import Any

from pondsocket_client import ClientOptions, PondClient

T0 = time.monotonic()
UNICODE_TEXT = "h\u00e9llo from B \u2713 \U0001f600 \u65e5\u672c"
ORDERING_COUNT = 50
LARGE_REPEAT = 40000  # 120k characters, ~240 KB of UTF-8
TOO_LARGE_BYTES = 1536 * 1024
observations: list[dict[str, Any]] = []
_changed: asyncio.Event | None = None


MAX_PRINTED_STRING = 2000


def _shorten(value: Any) -> Any:
    """Long strings (large payloads) are shortened in the printed line only."""
    if isinstance(value, str) and len(value) > MAX_PRINTED_STRING:
        return f"{value[:40]}...<{len(value)} chars>"
    if isinstance(value, dict):
        return {k: _shorten(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shorten(v) for v in value]
    return value


def emit(**obj: Any) -> None:
    line = {"t": round((time.monotonic() - T0) * 1000), **obj}
    observations.append(line)
    sys.stdout.write(json.dumps(_shorten(line), default=str) + "\n")
    sys.stdout.flush()
    if _changed is not None:
        _changed.set()


def _parse(text: Any) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


async def until(pred: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Wait until ``pred()`` is truthy, re-checking on every observation (bounded)."""
    assert _changed is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        _changed.clear()
        try:
            value = pred()
        except (KeyError, AttributeError, TypeError, IndexError):
            value = None
        if value:
            return value
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_changed.wait(), timeout=min(remaining, 0.05))


def find(pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
    return next((o for o in observations if pred(o)), None)


def frames(label: str, pred: Callable[[dict[str, Any]], bool] = lambda f: True) -> list[dict]:
    return [o["frame"] for o in observations
            if o.get("client") == label and o.get("event") == "frame_in"
            and isinstance(o.get("frame"), dict) and pred(o["frame"])]


class TracedClient(PondClient):
    """The upstream client, unchanged, with its raw frames recorded."""

    label = "?"

    def _handle_inbound_text(self, text: str) -> None:
        emit(client=self.label, event="frame_in", frame=_parse(text))
        super()._handle_inbound_text(text)

    async def _send_outbound(self, message: Any) -> None:
        emit(client=self.label, event="frame_out",
             frame=message.model_dump(by_alias=True, mode="json"))
        await super()._send_outbound(message)

    async def _open_transport(self) -> None:
        try:
            await super()._open_transport()
        except Exception as exc:
            emit(client=self.label, event="connect_failed", error=repr(exc))
            raise
        emit(client=self.label, event="ws_open")


state: dict[str, Any] = {}
clients: list[PondClient] = []


def make_client(url: str, label: str, params: dict[str, Any] | None = None,
                options: ClientOptions | None = None) -> TracedClient:
    client = TracedClient(url, {"token": "secret"} if params is None else params, options)
    client.label = label
    state[label] = {"conn": None}

    def on_state(s: Any) -> None:
        state[label]["conn"] = str(s)
        emit(client=label, event="connection_state", state=str(s))

    client.on_connection_change(on_state)
    client.on_error(lambda err: emit(client=label, event="client_error", error=repr(err)))
    clients.append(client)
    return client


def join(client: PondClient, label: str, name: str, params: dict[str, Any]) -> Any:
    channel = client.create_channel(name, params)
    key = f"{label}:{name}"
    state[key] = {"channel": channel, "state": None}

    def on_state(s: Any) -> None:
        state[key]["state"] = str(s.value if hasattr(s, "value") else s)
        emit(client=label, channel=name, event="channel_state", state=state[key]["state"])

    channel.on_channel_state_change(on_state)
    channel.on_join(lambda changed: emit(client=label, channel=name, event="presence_join",
                                         changed=changed))
    channel.on_leave(lambda changed: emit(client=label, channel=name, event="presence_leave",
                                          changed=changed))
    channel.on_presence_change(lambda payload: emit(
        client=label, channel=name, event="presence_update",
        payload=payload.model_dump(mode="json") if hasattr(payload, "model_dump") else payload))
    channel.on_users_change(lambda users: emit(client=label, channel=name, event="users",
                                               users=users))
    channel.on_message(lambda msg: emit(client=label, channel=name, event="message",
                                        name=msg.event, action=str(msg.action),
                                        payload=msg.payload))
    channel.join()
    return channel


def channel_is(label: str, name: str, wanted: str, timeout: float = 10.0) -> Awaitable[Any]:
    return until(lambda: state[f"{label}:{name}"]["state"] == wanted,
                 f"{label} on {name} to be {wanted}", timeout)


def saw(label: str, event: str, pred: Callable[[dict[str, Any]], Any] = lambda o: True,
        what: str | None = None, timeout: float = 10.0) -> Awaitable[Any]:
    def check() -> Any:
        for o in observations:
            if o.get("client") == label and o.get("event") == event:
                try:
                    if pred(o):
                        return o
                except (KeyError, AttributeError, TypeError):
                    continue
        return None
    return until(check, f"{label} to see {what or event}", timeout)


async def request(channel: Any, label: str, event: str, payload: dict[str, Any]) -> Any:
    reply = await channel.send_for_response(event, payload, wait=5.0)
    emit(client=label, event="response", request=event, payload=reply)
    return reply


# -- scenarios --------------------------------------------------------------------------------

async def sc_connect(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    await until(lambda: state["A"]["conn"] == "connected", "A to be connected")
    await until(lambda: frames("A", lambda f: f["action"] == "CONNECT"), "the CONNECT frame")
    return {"state": state["A"]["conn"],
            "connect_frame": frames("A", lambda f: f["action"] == "CONNECT")[0]}


async def sc_connect_declined(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A", {"token": "wrong"})
    await a.connect()
    failed = await saw("A", "connect_failed", what="the handshake to fail")
    return {"ever_connected": bool(find(lambda o: o.get("event") == "connection_state"
                                        and o.get("state") == "connected")),
            "error": failed["error"]}


async def sc_join_accepted(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    await saw("A", "presence_join", lambda o: o["changed"]["name"] == "alice", "its own JOIN")
    return {"state": state[f"A:{room}"]["state"],
            "presence": state[f"A:{room}"]["channel"].presence}


async def sc_join_declined(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    join(a, "A", room, {"name": "mallory", "deny": True})
    await channel_is("A", room, "DECLINED")
    return {"state": state[f"A:{room}"]["state"]}


async def sc_join_unknown(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    join(a, "A", "/nope/1", {"name": "alice"})
    await channel_is("A", "/nope/1", "DECLINED")
    return {"state": state["A:/nope/1"]["state"]}


async def _two(url: str, room: str) -> tuple[Any, Any]:
    a = make_client(url, "A")
    b = make_client(url, "B")
    await a.connect()
    await b.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    await saw("A", "presence_join", lambda o: o["changed"]["name"] == "alice", "its own JOIN")
    cb = join(b, "B", room, {"name": "bob"})
    await channel_is("B", room, "JOINED")
    await saw("A", "presence_join", lambda o: o["changed"]["name"] == "bob", "bob's JOIN")
    return ca, cb


async def sc_broadcast(url: str, room: str) -> dict[str, Any]:
    ca, cb = await _two(url, room)
    ca.send_message("message", {"text": "hello from A"})
    for who in ("A", "B"):
        await saw(who, "message", lambda o: o["name"] == "message"
                  and o["payload"]["text"] == "hello from A", "A's message")
    cb.send_message("message", {"text": UNICODE_TEXT})
    await saw("A", "message", lambda o: o["name"] == "message"
              and o["payload"]["text"] == UNICODE_TEXT, "B's message")
    return {}


async def sc_presence(url: str, room: str) -> dict[str, Any]:
    ca, cb = await _two(url, room)
    cb.send_message("status", {"status": "away"})
    await saw("A", "presence_update", lambda o: o["payload"]["changed"] == {
        "name": "bob", "status": "away"}, "bob's UPDATE")
    await saw("B", "presence_update", lambda o: o["payload"]["changed"]["status"] == "away",
              "its own UPDATE")
    after_update = ca.presence
    cb.leave()
    await saw("A", "presence_leave", lambda o: o["changed"]["name"] == "bob", "bob's LEAVE")
    return {"presence_after_update": after_update, "presence_after_leave": ca.presence}


async def sc_request_reply(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    return {"reply": await request(ca, "A", "ping", {})}


async def sc_unknown_event(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    reply = await request(ca, "A", "no_such_event", {})
    pong = await request(ca, "A", "ping", {})
    return {"reply": reply, "pong": pong, "state": state[f"A:{room}"]["state"]}


async def sc_leave(url: str, room: str) -> dict[str, Any]:
    ca, cb = await _two(url, room)
    ca.leave()
    ca_left_at = observations[-1]["t"]
    await channel_is("A", room, "CLOSED")
    await saw("B", "presence_leave", lambda o: o["changed"]["name"] == "alice", "alice's LEAVE")
    await until(lambda: frames("A", lambda f: f["event"] == "EXIT_ACKNOWLEDGE"),
                "EXIT_ACKNOWLEDGE for A")
    cb.send_message("message", {"text": "after leave"})
    await saw("B", "message", lambda o: o["payload"]["text"] == "after leave", "its own message")
    a = clients[0]
    probe = join(a, "A", f"{room}-probe", {"name": "alice"})
    await channel_is("A", f"{room}-probe", "JOINED")
    await request(probe, "A", "ping", {})
    leaked = frames("A", lambda f: f["channelName"] == room and f["action"] == "BROADCAST")
    # Joining the same channel again works (the client makes a new channel once CLOSED).
    join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    await saw("B", "presence_join", lambda o: o["changed"]["name"] == "alice"
              and o["t"] > ca_left_at, "alice's second JOIN")
    return {"leaked_after_leave": leaked, "rejoined": state[f"A:{room}"]["state"]}


async def sc_ordering(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    for i in range(ORDERING_COUNT):
        ca.send_message("message", {"seq": i})
    reply = await request(ca, "A", "ping", {})
    seqs = [o["payload"]["seq"] for o in observations
            if o.get("client") == "A" and o.get("event") == "message" and o["name"] == "message"]
    return {"reply": reply, "seqs_before_reply": seqs}


async def sc_disconnect(url: str, room: str) -> dict[str, Any]:
    _ca, cb = await _two(url, room)
    await clients[0].disconnect()
    await saw("B", "presence_leave", lambda o: o["changed"]["name"] == "alice",
              "alice's LEAVE after her disconnect")
    return {"presence": cb.presence}


async def sc_channel_names(url: str, room: str) -> dict[str, Any]:
    """The server must echo channel names exactly (query string, non-ASCII, escapes)."""
    a = make_client(url, "A")
    await a.connect()
    replies = {}
    for name in (f"{room}?lang=en&x=1", f"{room}-caf\u00e9-\u65e5\u672c", f"{room}-a%20b"):
        ch = join(a, "A", name, {"name": "alice"})
        await channel_is("A", name, "JOINED")
        replies[name] = await request(ch, "A", "ping", {})
    return {"replies": replies}


async def sc_large_message(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    text = "x\u00e9\u2713" * LARGE_REPEAT
    ca.send_message("message", {"text": text})
    await saw("A", "message", lambda o: o["name"] == "message" and o["payload"]["text"] == text,
              "the large message back")
    return {"length": len(text)}


async def sc_too_large(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    answer = None
    try:
        answer = await ca.send_for_response("message", {"blob": "y" * TOO_LARGE_BYTES}, wait=3.0)
        emit(client="A", event="response", request="message", payload=answer)
    except Exception as exc:
        emit(client="A", event="no_answer", error=repr(exc))
    reply = await request(ca, "A", "ping", {})
    errors = frames("A", lambda f: f["action"] == "ERROR")
    return {"answer": answer, "reply": reply, "errors": errors,
            "still_connected": state["A"]["conn"] == "connected"}


async def sc_evict(url: str, room: str) -> dict[str, Any]:
    ca, _cb = await _two(url, room)
    ca.send_message("kick", {"ids": ["bob"]})
    await saw("B", "message", lambda o: o["name"] == "EVICTED", "EVICTED")
    await saw("A", "presence_leave", lambda o: o["changed"]["name"] == "bob", "bob's LEAVE")
    return {"b_state_after_evict": state[f"B:{room}"]["state"]}


async def sc_reconnect(url: str, room: str) -> dict[str, Any]:
    a = make_client(url, "A")
    await a.connect()
    ca = join(a, "A", room, {"name": "alice"})
    await channel_is("A", room, "JOINED")
    emit(client="A", event="ready_for_restart")
    await channel_is("A", room, "STALLED", 30.0)
    await channel_is("A", room, "JOINED", 45.0)
    reply = await request(ca, "A", "ping", {})
    ca.send_message("message", {"text": "after restart"})
    await saw("A", "message", lambda o: o["payload"]["text"] == "after restart",
              "its broadcast after the restart")
    joins = [o for o in observations if o.get("event") == "frame_out"
             and o["frame"]["action"] == "JOIN_CHANNEL"]
    opens = [o for o in observations if o.get("event") == "ws_open"]
    return {"reply": reply, "join_frames_sent": len(joins), "opens": len(opens)}


SCENARIOS: dict[str, Callable[[str, str], Awaitable[dict[str, Any]]]] = {
    name[3:]: fn for name, fn in globals().items() if name.startswith("sc_")
}


async def main(url: str, scenario: str) -> int:
    global _changed
    _changed = asyncio.Event()
    room = f"/chat/{scenario}-{secrets.token_hex(4)}"
    emit(event="start", scenario=scenario, room=room,
         client_version=version("pondsocket-client"))
    ok = False
    try:
        summary = await asyncio.wait_for(SCENARIOS[scenario](url, room), timeout=90)
        ok = True
        result: dict[str, Any] = {"summary": summary}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    for client in clients:
        try:
            await asyncio.wait_for(client.disconnect(), timeout=5)
        except Exception as exc:
            emit(event="disconnect_error", error=repr(exc))
    emit(result="pass" if ok else "fail", scenario=scenario, **result)
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        sys.stderr.write(f"usage: driver.py <url> <scenario>; scenarios: {sorted(SCENARIOS)}\n")
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2])))
