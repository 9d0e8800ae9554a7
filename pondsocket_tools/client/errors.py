"""Every way a client operation can fail, as one exception hierarchy.

All errors derive from :class:`PondClientError`. Errors the server sent carry its ``code``
(an HTTP-like status) and ``message``; timeouts also derive from :class:`TimeoutError`.
"""

from __future__ import annotations

from typing import Any

#: Handshake statuses that are worth retrying although they are 4xx.
RETRYABLE_4XX = frozenset({408, 425, 429})


class PondClientError(Exception):
    """Base class of every client error."""


class ConnectError(PondClientError):
    """The server could not be reached (refused, unresolvable, timed out, not a PondSocket
    server), or the client gave up reconnecting."""

    def __init__(self, message: str, *, url: str = "", cause: BaseException | None = None,
                 attempts: int = 1) -> None:
        super().__init__(message)
        self.url = url
        self.cause = cause
        self.attempts = attempts


class HandshakeRejectedError(ConnectError):
    """The server refused the connection with an HTTP status (or a 4xxx close code).

    ``permanent`` is true for 4xx statuses other than 408/425/429: retrying with the same
    URL and credentials cannot succeed, so the client gives up instead of reconnecting.
    """

    def __init__(self, status: int, reason: str = "", *, url: str = "",
                 close_code: int | None = None) -> None:
        reason = reason.strip()
        text = f"server refused the connection: HTTP {status}"
        if reason:
            text += f" {reason}"
        if close_code is not None:
            text += f" (close code {close_code})"
        super().__init__(text, url=url)
        self.status = status
        self.reason = reason
        self.close_code = close_code

    @property
    def permanent(self) -> bool:
        return 400 <= self.status < 500 and self.status not in RETRYABLE_4XX


class ConnectionLostError(PondClientError):
    """The connection dropped while an operation was waiting for the server.

    A request that was already sent may or may not have been handled by the server.
    """


class ClientClosedError(PondClientError):
    """The client was closed (by :meth:`PondClient.close`) before the operation finished."""


class ProtocolError(PondClientError):
    """The server sent something that is not a PondSocket frame."""


class QueueFullError(PondClientError):
    """The outbound queue is full (the client is disconnected or the connection is slow)
    and the overflow policy is ``"reject"``."""


class ServerError(PondClientError):
    """The server answered with an error: an ``ERROR`` frame or a refusal.

    ``code`` is the HTTP-like status (``None`` if the server sent none), ``kind`` the error
    type (the frame's event, e.g. ``HANDLER_NOT_FOUND``, or a TS-style string code),
    ``request_id`` the id of the frame that caused it.
    """

    def __init__(self, message: str, *, code: int | None = None, kind: str = "",
                 channel: str = "", request_id: str = "",
                 payload: dict[str, Any] | None = None) -> None:
        self.message = message
        self.code = code
        self.kind = kind
        self.channel = channel
        self.request_id = request_id
        self.payload = dict(payload or {})
        super().__init__(self._describe())

    def _describe(self) -> str:
        head = " ".join(str(p) for p in (self.code, self.kind) if p not in (None, ""))
        where = f" on {self.channel}" if self.channel else ""
        return f"{head}{where}: {self.message}" if head else f"{self.message}{where}"


class JoinDeclinedError(ServerError):
    """The server declined a join (or a rejoin after a reconnect)."""

    def _describe(self) -> str:
        code = f" ({self.code})" if self.code is not None else ""
        return f"join of {self.channel} declined{code}: {self.message}"


class JoinTimeoutError(PondClientError, TimeoutError):
    """No answer to a join within the join timeout."""

    def __init__(self, channel: str, timeout: float) -> None:
        super().__init__(f"no answer to the join of {channel} within {timeout:g}s")
        self.channel = channel
        self.timeout = timeout


class RequestTimeoutError(PondClientError, TimeoutError):
    """No reply to a request within its timeout (a later reply is discarded)."""

    def __init__(self, channel: str, event: str, timeout: float) -> None:
        super().__init__(f"no reply to {event!r} on {channel} within {timeout:g}s")
        self.channel = channel
        self.event = event
        self.timeout = timeout


class ChannelClosedError(PondClientError):
    """The channel is no longer joined; ``reason`` says why."""

    def __init__(self, channel: str, reason: str = "the channel was left") -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason


class EvictedError(ChannelClosedError):
    """The server removed this client from the channel (``SYSTEM``/``EVICTED``)."""

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(channel, f"evicted by the server: {reason}")
        self.reason = reason


__all__ = [
    "ChannelClosedError",
    "ClientClosedError",
    "ConnectError",
    "ConnectionLostError",
    "EvictedError",
    "HandshakeRejectedError",
    "JoinDeclinedError",
    "JoinTimeoutError",
    "PondClientError",
    "ProtocolError",
    "QueueFullError",
    "RequestTimeoutError",
    "ServerError",
]
