"""A Locust user that speaks the PondSocket protocol over WebSocket (shared by the scenarios).

Runs only under Locust (gevent): nothing in ``pondsocket`` or ``pondsocket_tools`` imports it.
The WebSocket client is ``websocket-client``, which is blocking and therefore cooperative once
Locust has monkey-patched the standard library. Each user owns one connection and one receiver
greenlet that reads every frame, resolves pending requests by ``requestId`` and measures
broadcast delivery.

Request types reported to Locust's statistics:

* ``connect``  -- WebSocket handshake until the ``CONNECT`` frame.
* ``join``     -- ``JOIN_CHANNEL`` until ``ACKNOWLEDGE``; a decline is a failure with its code.
* ``leave``    -- ``LEAVE_CHANNEL`` until ``EXIT_ACKNOWLEDGE``.
* ``request``  -- a ``BROADCAST`` until the reply carrying its ``requestId``.
* ``presence`` -- a status update until this user sees its own ``PRESENCE``/``UPDATE``.
* ``deliver``  -- end-to-end latency of one broadcast, publisher clock to receiver clock; a gap
  in a publisher's sequence numbers is a ``lost`` failure, a repeat a ``duplicate`` failure.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import gevent
import websocket
from gevent.event import AsyncResult
from gevent.lock import Semaphore
from locust import User, events
from locust.exception import StopUser

MARK = "lt1"  # prefix of load-test message texts: "lt1|<publisher>|<seq>|<wall time>|<pad>"


@events.init_command_line_parser.add_listener
def _add_common_arguments(parser: Any) -> None:
    group = parser.add_argument_group("PondSocket")
    group.add_argument("--endpoint", default="/api/socket",
                       help="Endpoint path on --host (default /api/socket)")
    group.add_argument("--token", default="demo", help="?token= sent on connect (default demo)")
    group.add_argument("--room-prefix", default="/chat/load-",
                       help="Channel names are <prefix><n> (default /chat/load-)")
    group.add_argument("--payload-size", type=int, default=100,
                       help="Bytes of padding in each published message (default 100)")
    group.add_argument("--message-rate", type=float, default=2.0,
                       help="Messages per second per publishing user (default 2)")
    group.add_argument("--request-timeout", type=float, default=10.0,
                       help="Seconds to wait for an ACK or reply (default 10)")


def ws_url(host: str, endpoint: str, query: dict[str, str]) -> str:
    """``ws://host/endpoint?query`` from Locust's ``--host`` (http(s):// is rewritten)."""
    if host.startswith("http://"):
        host = "ws://" + host[len("http://"):]
    elif host.startswith("https://"):
        host = "wss://" + host[len("https://"):]
    elif "://" not in host:
        host = "ws://" + host
    return f"{host.rstrip('/')}{endpoint}?{urlencode(query)}"


def encode_frame(action: str, channel: str, event: str, payload: dict, request_id: str) -> str:
    """One client frame as JSON text."""
    return json.dumps({"action": action, "event": event, "channelName": channel,
                       "requestId": request_id, "payload": payload})


def add_one_channel_arguments(parser: Any, default_channel: str) -> None:
    """``--publishers`` and ``--channel`` of the one-channel scenarios (fanout, sse)."""
    parser.add_argument("--publishers", type=int, default=1,
                        help="Users that publish (the rest only subscribe; default 1)")
    parser.add_argument("--channel", default=default_channel, help="The one channel")


class JoinsChannel:
    """Mixin for a user of a one-channel scenario: joins ``--channel`` on start."""

    def on_start(self) -> None:
        super().on_start()  # type: ignore[misc]
        self.join(self.option("channel"))  # type: ignore[attr-defined]


def encode_message(publisher: str, seq: int, size: int) -> str:
    return f"{MARK}|{publisher}|{seq}|{time.time():.6f}|{'x' * max(0, size)}"


def decode_message(text: Any) -> tuple[str, int, float] | None:
    if not isinstance(text, str) or not text.startswith(MARK + "|"):
        return None
    parts = text.split("|", 4)
    if len(parts) < 4:
        return None
    try:
        return parts[1], int(parts[2]), float(parts[3])
    except ValueError:
        return None


class SequenceTracker:
    """Per (channel, publisher): the last sequence number seen. The first message from a
    publisher is the baseline (a receiver may join after the publisher started)."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, str], int] = {}

    def check(self, channel: str, publisher: str, seq: int) -> tuple[str, int] | None:
        """``None`` when in order, else ``("lost", missing)`` or ``("duplicate", seq)``."""
        key = (channel, publisher)
        previous = self.last.get(key)
        if previous is None or seq == previous + 1:
            self.last[key] = seq
            return None
        if seq <= previous:
            return "duplicate", seq
        self.last[key] = seq
        return "lost", seq - previous - 1

    def forget(self, channel: str) -> None:
        for key in [k for k in self.last if k[0] == channel]:
            del self.last[key]


class PondSocketUser(User):
    """Base class: one PondSocket connection per user. Subclasses add tasks."""

    abstract = True
    host = "ws://127.0.0.1:8765"
    message_event = "message"  # the event whose broadcasts carry load-test payloads

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.options = environment.parsed_options
        self.user_name = f"lt-{uuid.uuid4().hex[:12]}"
        self.ws: websocket.WebSocket | None = None
        self.receiver: gevent.Greenlet | None = None
        self.pending: dict[str, AsyncResult] = {}
        self.presence_waiters: dict[str, AsyncResult] = {}
        self.channels: set[str] = set()
        self.tracker = SequenceTracker()
        self.seqs: dict[str, itertools.count] = {}
        self.send_lock = Semaphore()
        self.closing = False

    # -- option helpers --------------------------------------------------------------------
    def option(self, name: str, default: Any = None) -> Any:
        return getattr(self.options, name, default) if self.options is not None else default

    def room(self, n: int) -> str:
        return f"{self.option('room_prefix', '/chat/load-')}{n}"

    # -- statistics ------------------------------------------------------------------------
    def fire(self, request_type: str, name: str, started: float, length: int = 0,
             exception: BaseException | None = None) -> None:
        self.environment.events.request.fire(
            request_type=request_type, name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=length, exception=exception, context={})

    # -- lifecycle -------------------------------------------------------------------------
    def on_start(self) -> None:
        self.connect()

    def on_stop(self) -> None:
        self.close()

    def connect(self) -> None:
        url = ws_url(self.host or "", self.option("endpoint", "/api/socket"),
                     {"token": self.option("token", "demo"), "name": self.user_name})
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(url, timeout=self.option("request_timeout", 10.0),
                                             enable_multithread=False)
            first = json.loads(ws.recv())
            if first.get("action") != "CONNECT":
                raise ConnectionError(f"expected CONNECT, got {first.get('action')}")
        except Exception as exc:
            self.fire("connect", "connect", started, exception=exc)
            raise StopUser() from None
        ws.settimeout(None)
        self.ws = ws
        self.fire("connect", "connect", started)
        self.receiver = gevent.spawn(self._receive)

    def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close(timeout=1)
        if self.receiver is not None:
            self.receiver.kill(block=False)

    # -- sending ---------------------------------------------------------------------------
    def send_frame(self, action: str, channel: str, event: str, payload: dict,
                   request_id: str | None = None) -> str:
        request_id = request_id or uuid.uuid4().hex
        frame = encode_frame(action, channel, event, payload, request_id)
        assert self.ws is not None
        with self.send_lock:
            self.ws.send(frame)
        return request_id

    def _roundtrip(self, action: str, channel: str, event: str, payload: dict) -> dict:
        request_id = uuid.uuid4().hex
        waiter = AsyncResult()
        self.pending[request_id] = waiter
        try:
            self.send_frame(action, channel, event, payload, request_id)
            return waiter.get(timeout=self.option("request_timeout", 10.0))
        except gevent.Timeout:
            raise TimeoutError(f"no answer to {action} {event} on {channel}") from None
        finally:
            self.pending.pop(request_id, None)

    def join(self, channel: str, params: dict | None = None) -> bool:
        started = time.perf_counter()
        try:
            answer = self._roundtrip("JOIN_CHANNEL", channel, "JOIN_CHANNEL", params or {})
            if answer.get("event") != "ACKNOWLEDGE":
                payload = answer.get("payload") or {}
                raise ConnectionRefusedError(
                    f"join declined: {answer.get('event')} {payload.get('code')} "
                    f"{payload.get('message', '')}".rstrip())
        except Exception as exc:
            self.fire("join", "join", started, exception=exc)
            return False
        self.channels.add(channel)
        self.fire("join", "join", started)
        return True

    def leave(self, channel: str) -> bool:
        started = time.perf_counter()
        self.channels.discard(channel)
        try:
            answer = self._roundtrip("LEAVE_CHANNEL", channel, "LEAVE_CHANNEL", {})
            if answer.get("event") != "EXIT_ACKNOWLEDGE":
                raise RuntimeError(f"leave answered {answer.get('action')}/{answer.get('event')}")
        except Exception as exc:
            self.fire("leave", "leave", started, exception=exc)
            return False
        finally:
            self.tracker.forget(channel)
        self.fire("leave", "leave", started)
        return True

    def request(self, channel: str, event: str, payload: dict) -> dict | None:
        """Send ``event`` and wait for the reply with the same ``requestId``."""
        started = time.perf_counter()
        try:
            answer = self._roundtrip("BROADCAST", channel, event, payload)
            if answer.get("action") == "ERROR":
                body = answer.get("payload") or {}
                raise RuntimeError(f"{answer.get('event')} {body.get('code')}")
        except Exception as exc:
            self.fire("request", event, started, exception=exc)
            return None
        self.fire("request", event, started, length=len(json.dumps(answer.get("payload"))))
        return answer

    def publish(self, channel: str, size: int | None = None) -> None:
        """Broadcast one sequenced, timestamped ``message`` (``{"text": ...}``)."""
        counter = self.seqs.setdefault(channel, itertools.count())
        size = self.option("payload_size", 100) if size is None else size
        text = encode_message(self.user_name, next(counter), size)
        self.send_frame("BROADCAST", channel, self.message_event, {"text": text})

    def update_status(self, channel: str, status: str) -> None:
        """Send ``status`` and time it until our own presence UPDATE comes back."""
        started = time.perf_counter()
        waiter = AsyncResult()
        self.presence_waiters[status] = waiter
        try:
            self.send_frame("BROADCAST", channel, "status", {"status": status})
            waiter.get(timeout=self.option("request_timeout", 10.0))
        except Exception as exc:
            self.fire("presence", "update", started,
                      exception=TimeoutError("no presence update") if
                      isinstance(exc, gevent.Timeout) else exc)
            return
        finally:
            self.presence_waiters.pop(status, None)
        self.fire("presence", "update", started)

    # -- receiving -------------------------------------------------------------------------
    def _receive(self) -> None:
        assert self.ws is not None
        while True:
            try:
                raw = self.ws.recv()
            except Exception as exc:
                if not self.closing and self.environment.runner is not None:
                    state = getattr(self.environment.runner, "state", "")
                    if state not in ("stopping", "stopped", "quitting"):
                        self.fire("connect", "disconnected", time.perf_counter(), exception=exc)
                return
            if not raw:
                continue
            try:
                self.on_frame(json.loads(raw), len(raw))
            except Exception as exc:  # a bad frame must not kill the receiver
                self.fire("deliver", "invalid frame", time.perf_counter(), exception=exc)

    def on_frame(self, frame: dict, length: int) -> None:
        request_id = frame.get("requestId")
        waiter = self.pending.get(request_id) if request_id else None
        action = frame.get("action")
        if waiter is not None and action != "PRESENCE":
            waiter.set(frame)
            return
        if action == "BROADCAST" and frame.get("event") == self.message_event:
            self.on_message(frame, length)
        elif action == "PRESENCE" and frame.get("event") == "UPDATE":
            changed = (frame.get("payload") or {}).get("changed") or {}
            if changed.get("name") == self.user_name:
                status_waiter = self.presence_waiters.get(changed.get("status"))
                if status_waiter is not None:
                    status_waiter.set(frame)

    def on_message(self, frame: dict, length: int) -> None:
        now = time.time()
        decoded = decode_message((frame.get("payload") or {}).get("text"))
        if decoded is None:
            return
        publisher, seq, sent = decoded
        channel = frame.get("channelName", "")
        latency_ms = max(0.0, (now - sent) * 1000.0)
        problem = self.tracker.check(channel, publisher, seq)
        exception: BaseException | None = None
        if problem is not None:
            kind, value = problem
            exception = (LostMessages(f"lost: gap in sequence ({value} missing)")
                         if kind == "lost" else DuplicateMessage("duplicate: sequence repeated"))
        self.environment.events.request.fire(
            request_type="deliver", name=self.message_event, response_time=latency_ms,
            response_length=length, exception=exception, context={})


class LostMessages(Exception):
    """A receiver saw a gap in a publisher's sequence numbers."""


class DuplicateMessage(Exception):
    """A receiver saw a publisher's sequence number again."""


def paced(rate_option: str = "message_rate"):
    """A ``wait_time`` giving ``--<rate_option>`` tasks per second per user (with jitter on the
    first wait so that users do not publish in lockstep)."""

    def wait_time(user: PondSocketUser) -> float:
        rate = max(1e-3, float(user.option(rate_option, 1.0)))
        if not getattr(user, "_paced_started", False):
            user._paced_started = True
            return random.random() / rate
        return 1.0 / rate

    return wait_time


def http_url(host: str, endpoint: str, query: dict[str, str]) -> str:
    """``http://host/endpoint?query`` from Locust's ``--host`` (ws(s):// is rewritten)."""
    url = ws_url(host, endpoint, query)
    return "http" + url[len("ws"):]


class PondSocketSSEUser(PondSocketUser):
    """The same user over Server-Sent Events: a ``GET`` streams the server's frames, each
    client frame is a ``POST`` carrying the stream's secret ``X-Connection-ID``."""

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self.session: Any = None  # a requests.Session
        self.stream: Any = None  # the streaming requests.Response
        self.lines: Any = None
        self.url = ""
        self.token = ""

    def connect(self) -> None:
        import requests  # here, not at the top: locust must monkey-patch before it loads

        self.url = http_url(self.host or "", self.option("endpoint", "/api/socket"),
                            {"token": self.option("token", "demo"), "name": self.user_name})
        timeout = self.option("request_timeout", 10.0)
        started = time.perf_counter()
        try:
            self.session = requests.Session()
            self.stream = self.session.get(self.url, headers={"Accept": "text/event-stream"},
                                           stream=True, timeout=(timeout, None))
            if self.stream.status_code != 200:
                raise ConnectionError(f"HTTP {self.stream.status_code} {self.stream.text}")
            self.lines = self.stream.iter_lines(decode_unicode=True)
            first = self._next_frame()
            if first is None or first.get("action") != "CONNECT":
                raise ConnectionError(f"expected CONNECT, got {first}")
            self.token = first["payload"]["connectionId"]
        except Exception as exc:
            self.fire("connect", "connect sse", started, exception=exc)
            raise StopUser() from None
        self.fire("connect", "connect sse", started)
        self.receiver = gevent.spawn(self._receive)

    def _next_frame(self) -> dict | None:
        for line in self.lines:
            if line and line.startswith("data:"):
                return json.loads(line[5:].strip())
        return None

    def send_frame(self, action: str, channel: str, event: str, payload: dict,
                   request_id: str | None = None) -> str:
        request_id = request_id or uuid.uuid4().hex
        frame = encode_frame(action, channel, event, payload, request_id)
        assert self.session is not None
        response = self.session.post(self.url, data=frame, timeout=self.option(
            "request_timeout", 10.0), headers={"X-Connection-ID": self.token,
                                               "Content-Type": "application/json"})
        if response.status_code != 204:
            raise ConnectionError(f"POST answered HTTP {response.status_code} {response.text}")
        return request_id

    def _receive(self) -> None:
        try:
            while (frame := self._next_frame()) is not None:
                try:
                    self.on_frame(frame, len(json.dumps(frame)))
                except Exception as exc:  # a bad frame must not kill the receiver
                    self.fire("deliver", "invalid frame", time.perf_counter(), exception=exc)
        except Exception as exc:
            if not self.closing:
                self.fire("connect", "disconnected", time.perf_counter(), exception=exc)

    def close(self) -> None:
        self.closing = True
        if self.session is not None and self.token:
            with contextlib.suppress(Exception):
                self.session.delete(self.url, headers={"X-Connection-ID": self.token},
                                    timeout=2)
        if self.stream is not None:
            with contextlib.suppress(Exception):
                self.stream.close()
        if self.receiver is not None:
            self.receiver.kill(block=False)
