"""uvicorn protocol classes that bound request heads and keep refused handshakes quiet.

uvicorn holds a connection whose request head never completes for ever (its keep-alive timer
is cancelled by the first byte), answers no oversized head with 414/431 (httptools buffers
any size; h11 answers 400 past 16 KiB), and upgrades an HTTP/1.0 request to a WebSocket,
which RFC 6455 forbids. The HTTP classes here fix that before the ASGI app sees anything:

* a request head must be complete within ``handshake_timeout`` seconds of the moment the
  server starts waiting for it (the connection opened, or the previous response ended);
  otherwise the connection is dropped;
* a request line over ``max_line`` bytes gets **414** at once, a header line over
  ``max_line`` bytes or more than ``max_headers`` header lines get **431** at once;
* a WebSocket upgrade that is not HTTP/1.1 gets **505**.

Use them from the command line (``uvicorn app:app --http pondsocket.asgi.uvicorn:
PondHTTPProtocol --ws pondsocket.asgi.uvicorn:PondWebSocketProtocol``) or from Python
(``http=http_protocol(HandshakeLimits(handshake_timeout=5))``). Under the command line the
limits come from ``PONDSOCKET_HANDSHAKE_TIMEOUT``, ``PONDSOCKET_MAX_HEAD_LINE`` and
``PONDSOCKET_MAX_HEADERS`` when set; a value that is not a number, or out of range, makes
importing this module raise ``ValueError`` (uvicorn then does not start).

:class:`PondWebSocketProtocol` is uvicorn's default WebSocket protocol without its
``ASGI callable returned without completing handshake`` error after a handshake the app
refused with an HTTP response (a wrong token is not a server error; uvicorn already logs the
refusal's status once, at info).
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.h11_impl import H11Protocol
from websockets.exceptions import InvalidState
from websockets.protocol import State

from ..wire import Frame
from ..wsframes import FrameEncoding, compress_once_extensions, encoding_for
from ..wsrelease import release_websocket_protocol
from .scope import SEND_FRAME_NOW, SEND_TEXT_NOW

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed (uvicorn without [standard])
    HttpToolsProtocol = None  # type: ignore[assignment, misc]

log = logging.getLogger("uvicorn.error")  # where uvicorn reports refused requests

ENV_HANDSHAKE_TIMEOUT = "PONDSOCKET_HANDSHAKE_TIMEOUT"
ENV_MAX_HEAD_LINE = "PONDSOCKET_MAX_HEAD_LINE"
ENV_MAX_HEADERS = "PONDSOCKET_MAX_HEADERS"
_ENV_FIELDS = ((ENV_HANDSHAKE_TIMEOUT, "handshake_timeout", float),
               (ENV_MAX_HEAD_LINE, "max_line", int), (ENV_MAX_HEADERS, "max_headers", int))


@dataclass(frozen=True, slots=True)
class HandshakeLimits:
    """Bounds on one request head (the defaults match the direct server,
    :mod:`pondsocket.wsserver`).

    * ``handshake_timeout``: seconds a request head may take to arrive in full.
    * ``max_line``: bytes of the request line (beyond: 414) and of each header line
      (beyond: 431).
    * ``max_headers``: header lines per request (beyond: 431).
    """

    handshake_timeout: float = 10.0
    max_line: int = 8192
    max_headers: int = 128

    def __post_init__(self) -> None:
        if not self.handshake_timeout > 0:
            raise ValueError(f"handshake_timeout must be above 0, got {self.handshake_timeout}")
        if self.max_line < 256:
            raise ValueError(f"max_line must be at least 256 bytes, got {self.max_line}")
        if self.max_headers < 1:
            raise ValueError(f"max_headers must be at least 1, got {self.max_headers}")

    @classmethod
    def from_env(cls, env: Any = os.environ) -> HandshakeLimits:
        """The defaults, overridden by ``PONDSOCKET_HANDSHAKE_TIMEOUT``,
        ``PONDSOCKET_MAX_HEAD_LINE`` and ``PONDSOCKET_MAX_HEADERS``; ``ValueError`` names a
        variable that is not a number."""
        values: dict[str, Any] = {}
        for name, field, kind in _ENV_FIELDS:
            raw = env.get(name)
            if raw:
                try:
                    values[field] = kind(raw)
                except ValueError:
                    raise ValueError(f"{name} must be a number, got {raw!r}") from None
        try:
            return cls(**values)
        except ValueError as err:
            names = ", ".join(name for name, *_ in _ENV_FIELDS if env.get(name))
            raise ValueError(f"{err} (set by {names})") from None

    def to_env(self) -> dict[str, str]:
        """These limits as the environment variables :meth:`from_env` reads."""
        return {ENV_HANDSHAKE_TIMEOUT: repr(self.handshake_timeout),
                ENV_MAX_HEAD_LINE: str(self.max_line), ENV_MAX_HEADERS: str(self.max_headers)}


@cache
def _env_limits() -> HandshakeLimits:
    return HandshakeLimits.from_env()


# A bad environment variable stops uvicorn as it loads these classes, not each connection.
_env_limits()


# What the guard expects next on the connection.
_HEAD = "head"  # (the rest of) a request head
_BODY = "body"  # the remaining bytes of a Content-Length body
_OFF = "off"  # nothing it can frame (an upgraded connection, a chunked body): not guarding


class _HeadGuard:
    """Mixed in before a uvicorn HTTP protocol: watches the raw bytes of every request head
    (lines and their sizes only; the parser below does the parsing) and the time it takes."""

    limits: ClassVar[HandshakeLimits | None] = None  # None: from the environment

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None
    cycle: Any
    scope: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = type(self).limits or _env_limits()
        self._expect = _HEAD
        self._line = bytearray()  # the current head line so far (never above max_line)
        self._request_line = False  # seen this head's request line
        self._header_lines = 0
        self._upgrade = False
        self._content_length: bytes | None = None
        self._chunked = False
        self._body_left = 0
        self._head_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_guarding()
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self._expect is _OFF:
            super().data_received(data)  # type: ignore[misc]
            return
        refusal, head_start = self._scan(data)
        if refusal is None:
            super().data_received(data)  # type: ignore[misc]
            if self._expect is _HEAD and not self._cycle_in_flight():
                self._arm_head_timer()  # waiting for a head with nothing being answered
            return
        if head_start > 0:  # complete requests before the refused head still go through
            super().data_received(data[:head_start])  # type: ignore[misc]
        self._refuse(*refusal)

    # -- hooks into uvicorn's protocols ---------------------------------------------------

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._expect is _HEAD and not self._cycle_in_flight():
            self._arm_head_timer()  # the next head's time starts now

    def handle_websocket_upgrade(self, *args: Any) -> None:
        self._stop_guarding()  # the connection now belongs to the WebSocket protocol
        if self.scope.get("http_version") != "1.1":
            self._refuse(505, "WebSocket handshakes need HTTP/1.1 (RFC 6455)")
            return
        super().handle_websocket_upgrade(*args)  # type: ignore[misc]

    # -- the guard ------------------------------------------------------------------------

    def _scan(self, data: bytes) -> tuple[tuple[int, str] | None, int]:
        """Follow ``data`` through heads and bodies. Returns a refusal (status, message) or
        None, and where in ``data`` the head being read began (0: in an earlier chunk)."""
        limits = self._limits
        pos, size = 0, len(data)
        head_start = 0
        while pos < size and self._expect is not _OFF:
            if self._expect is _BODY:
                taken = min(self._body_left, size - pos)
                pos += taken
                self._body_left -= taken
                if self._body_left == 0:
                    self._expect = _HEAD
                    head_start = pos
                continue
            newline = data.find(b"\n", pos)
            end = size if newline < 0 else newline
            if len(self._line) + (end - pos) > limits.max_line + 1:  # +1: the line's CR
                if not self._request_line:
                    return (414, f"Request line longer than {limits.max_line} bytes"), head_start
                return (431, f"Header line longer than {limits.max_line} bytes"), head_start
            self._line += data[pos:end]
            if newline < 0:
                break
            pos = newline + 1
            line = bytes(self._line)
            self._line.clear()
            if line.endswith(b"\r"):
                line = line[:-1]
            if not self._request_line:
                self._request_line = bool(line)  # blank lines before a request are ignored
                continue
            if line:
                self._header_lines += 1
                if self._header_lines > limits.max_headers:
                    return (431, f"More than {limits.max_headers} header lines"), head_start
                self._header(line)
                continue
            upgrade = self._head_complete()
            head_start = pos
            if upgrade:  # what follows is the WebSocket protocol's, if uvicorn upgrades
                break
        return None, head_start

    def _header(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"upgrade" and b"websocket" in value.lower():
            self._upgrade = True
        elif name == b"transfer-encoding":
            self._chunked = True
        elif name == b"content-length":
            value = value.strip()
            if self._content_length not in (None, value):
                self._chunked = True  # conflicting lengths: the parser refuses; stop framing
            self._content_length = value

    def _head_complete(self) -> bool:
        """Set what comes next; True for a WebSocket upgrade request (whether uvicorn
        upgrades is known once its parser has the head: ``handle_websocket_upgrade``)."""
        self._cancel_head_timer()
        length = self._content_length
        upgrade = self._upgrade
        if self._chunked:
            self._expect = _OFF  # a chunked body is not framed here: stop guarding
        elif length is not None and not length.isdigit():
            self._expect = _OFF  # invalid: the parser answers 400
        elif length is not None and int(length) > 0:
            self._expect, self._body_left = _BODY, int(length)
        else:
            self._expect = _HEAD
        self._request_line = False
        self._header_lines = 0
        self._upgrade = self._chunked = False
        self._content_length = None
        return upgrade

    def _cycle_in_flight(self) -> bool:
        cycle = getattr(self, "cycle", None)
        return cycle is not None and not cycle.response_complete

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._limits.handshake_timeout,
                                                    self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _stop_guarding(self) -> None:
        self._expect = _OFF
        self._cancel_head_timer()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._expect is not _HEAD or self._cycle_in_flight():
            return  # a response is under way; the next head's time starts when it ends
        log.debug("%s - request head not complete within %gs: connection dropped",
                  _peer(self.client), self._limits.handshake_timeout)
        self._expect = _OFF
        self.transport.close()

    def _refuse(self, status: int, message: str) -> None:
        self._stop_guarding()
        log.info("%s - request refused: %d %s", _peer(self.client), status, message)
        if not self._cycle_in_flight() and not self.transport.is_closing():
            body = message.encode()
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, http.HTTPStatus(status).phrase.encode(), len(body), body))
        self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "-"


class PondH11Protocol(_HeadGuard, H11Protocol):
    """uvicorn's h11 protocol with bounded request heads (see the module docstring)."""


#: What uvicorn's ``--http auto`` would pick (httptools when installed, else h11), guarded.
PondHTTPProtocol: type[asyncio.Protocol]

if HttpToolsProtocol is not None:
    class PondHttpToolsProtocol(_HeadGuard, HttpToolsProtocol):
        """uvicorn's httptools protocol with bounded request heads (see the module
        docstring)."""

        def handle_websocket_upgrade(self, *args: Any) -> None:
            super().handle_websocket_upgrade(*args)
            if self.transport.get_protocol() is not self:
                # Upgraded: the WebSocket protocol has the connection and this one is never
                # called again (nor told of the close). Its parser holds bound methods of it,
                # a cycle that would keep both (and the transport) until a full collection.
                self.parser = None  # type: ignore[assignment]

    PondHTTPProtocol = PondHttpToolsProtocol
else:  # pragma: no cover - uvicorn[standard] brings httptools
    PondHTTPProtocol = PondH11Protocol


@cache
def http_protocol(limits: HandshakeLimits | None = None, parser: str = "auto"
                  ) -> type[asyncio.Protocol]:
    """A guarded uvicorn HTTP protocol class with ``limits`` (default: from the environment),
    for ``uvicorn.Config(http=...)``. ``parser`` is ``"auto"``, ``"httptools"`` or
    ``"h11"``; ``ValueError`` for another, or for ``"httptools"`` when it is not installed."""
    base: type[asyncio.Protocol]
    if parser == "auto":
        base = PondHTTPProtocol
    elif parser == "h11":
        base = PondH11Protocol
    elif parser == "httptools":
        if HttpToolsProtocol is None:
            raise ValueError("parser 'httptools' needs httptools: pip install httptools")
        base = PondHttpToolsProtocol
    else:
        raise ValueError(f"parser must be 'auto', 'httptools' or 'h11', got {parser!r}")
    if limits is None:
        return base
    configured: type[asyncio.Protocol] = type(base.__name__, (base,),
                                              {"limits": limits, "__module__": __name__})
    return configured


def _websocket_base() -> type[asyncio.Protocol]:
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:  # uvicorn before 0.35: its default is the wsproto or legacy one
        from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

        assert AutoWebSocketsProtocol is not None, "uvicorn has no WebSocket library"
        return cast(type[asyncio.Protocol], AutoWebSocketsProtocol)
    return WebSocketsSansIOProtocol


class _InfoAsDebug(logging.LoggerAdapter):
    """A logger whose info lines are debug lines."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)


@cache
def _info_as_debug(logger: logging.Logger) -> _InfoAsDebug:
    """One adapter per logger, shared by every connection (not one each)."""
    return _InfoAsDebug(logger, {})


_WebSocketBase = _websocket_base()
_SANSIO = _WebSocketBase.__name__ == "WebSocketsSansIOProtocol"


class PondWebSocketProtocol(_WebSocketBase):  # type: ignore[misc, valid-type]
    """uvicorn's default WebSocket protocol, where a handshake is logged once: a handshake
    the app refused with an HTTP response (``websocket.http.response``) counts as complete,
    so uvicorn does not log ``ASGI callable returned without completing handshake`` for it,
    and the ``websockets`` library's own ``connection open`` / ``connection rejected``
    lines are debug lines (uvicorn's ``"WebSocket /path" [accepted]`` or ``401`` line,
    at info, says the same).

    On uvicorn's sans-I/O protocol (uvicorn 0.35 and later) it also offers the
    :data:`~pondsocket.asgi.scope.SEND_TEXT_NOW` and
    :data:`~pondsocket.asgi.scope.SEND_FRAME_NOW` scope extensions (:meth:`send_text_now`,
    :meth:`send_frame_now`), which :class:`~pondsocket.asgi.PondASGIApp` uses to write each
    outbound frame without an ASGI message; and with ``ws_per_message_deflate`` on it
    negotiates compress-once (permessage-deflate without context takeover, one compressed
    frame per broadcast shared by every recipient, as the direct server does) instead of
    uvicorn's per-recipient compression."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        conn = getattr(self, "conn", None)
        if conn is not None and hasattr(conn, "logger"):
            conn.logger = _info_as_debug(conn.logger)
        if _SANSIO and self.config.ws_per_message_deflate:
            self.conn.available_extensions = compress_once_extensions()
        # How this connection's frames are written, known once the app accepted (None:
        # through the protocol, compressed for this connection alone if at all).
        self._encoding: FrameEncoding | None = None

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if _SANSIO:
            self.scope["extensions"][SEND_TEXT_NOW] = self.send_text_now
            self.scope["extensions"][SEND_FRAME_NOW] = self.send_frame_now

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        _release(self)

    def send_text_now(self, data: bytes) -> bool:
        """Write a text frame (``data``: UTF-8) at once, as ``websocket.send`` would; False,
        writing nothing, when the connection is not open or its socket is paused (a slow
        peer): the caller then sends it through the ASGI ``send``, which waits."""
        if (self.disconnected or self.close_sent or not self.handshake_complete
                or self.initial_response is not None or not self.writable.is_set()):
            return False
        try:
            self.conn.send_text(data)
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def send_frame_now(self, frame: Frame) -> bool:
        """Write ``frame`` at once as the finished WebSocket frame it shares with every
        connection that negotiated the same compression (:mod:`pondsocket.wsframes`: made
        once per frame, not once per recipient); False, as :meth:`send_text_now`, when it
        cannot be written now."""
        encoding = self._encoding
        if encoding is None or self.conn.writes:  # per-recipient, or the protocol's own
            return self.send_text_now(frame.data)  # output first: through the protocol
        if (self.disconnected or self.close_sent or not self.handshake_complete
                or self.initial_response is not None or not self.writable.is_set()
                or self.conn.state is not State.OPEN):
            return False
        self.transport.write(encoding.frame_bytes(frame))
        return True

    def send(self, message: Any) -> Any:
        # Not a coroutine of its own: frames go straight to uvicorn's send (one coroutine per
        # frame instead of two); only the handshake's messages need a step after it.
        kind = message["type"]
        if kind == "websocket.http.response.body":
            return self._send_response_body(message)
        if kind == "websocket.accept":
            return self._accept(message)
        return super().send(message)

    async def _accept(self, message: Any) -> None:
        await super().send(message)
        if _SANSIO and self.handshake_complete:
            self._encoding = encoding_for(self.conn.extensions)  # negotiated by the accept
            # uvicorn keeps the handshake's request and response (their headers: about 3 KB)
            # for the connection's lifetime and never reads them after the accept.
            self.request = self.response = None

    async def _send_response_body(self, message: Any) -> None:
        await super().send(message)
        if not message.get("more_body", False):
            self.handshake_complete = True


def _release(protocol: Any) -> None:
    """Break the reference cycles a closed WebSocket connection's protocol is in, so that
    reference counting frees it (and its transport, parser and queue) at once instead of the
    next full garbage collection (which never comes for objects ``gc.freeze()`` froze)."""
    extensions = (getattr(protocol, "scope", None) or {}).get("extensions")
    if extensions:  # bound methods of the protocol in its own scope
        extensions.pop(SEND_TEXT_NOW, None)
        extensions.pop(SEND_FRAME_NOW, None)
    conn = getattr(protocol, "conn", None)
    if conn is not None:
        release_websocket_protocol(conn)
