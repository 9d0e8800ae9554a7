"""Client settings."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Literal

from .backoff import Backoff
from .protocol import IMPLEMENTED_EXTENSIONS

OverflowPolicy = Literal["reject", "drop_oldest"]


@dataclass(slots=True)
class ClientOptions:
    """How a :class:`~pondsocket_tools.client.PondClient` connects, waits and queues.

    Timeouts (seconds):

    * ``connect_timeout``: to open the connection *and* receive the server's ``CONNECT``
      frame (the client counts as connected only then).
    * ``join_timeout``: for the answer to a join (and to each rejoin after a reconnect).
    * ``request_timeout``: default for :meth:`Channel.request`.
    * ``leave_timeout``: for the server's acknowledgement of a leave (servers that do not
      acknowledge leaves just take this long).
    * ``close_timeout``: for sending what is still queued when the client closes.

    Reconnecting:

    * ``reconnect``: reconnect after a dropped connection (default). The client gives up at
      once when the server refuses the handshake with a 4xx status (except 408/425/429), and
      after ``max_reconnect_attempts`` failed attempts in a row (``None``: never).
    * ``retry_initial_connect``: also retry when the very first connection fails (by default
      :meth:`PondClient.connect` raises at once so that a wrong URL is noticed).
    * ``backoff_*``: delays, see :class:`~pondsocket_tools.client.backoff.Backoff`.

    Outbound queue: frames sent while disconnected (or before a channel is joined again)
    wait in order in a queue of at most ``queue_size`` frames. When it is full,
    ``queue_overflow="reject"`` (default) makes ``send``/``request`` raise
    :class:`~pondsocket_tools.client.errors.QueueFullError`; ``"drop_oldest"`` discards the
    oldest queued frame (a queued request then fails with ``QueueFullError``).

    Inbound: each message/presence iterator buffers at most ``buffer_size`` items; a
    consumer that falls further behind loses the oldest ones (counted in
    ``Channel.dropped``, logged once).

    WebSocket: ``ping_interval``/``ping_timeout`` (keep-alive pings, ``None`` to disable),
    ``max_message_size`` (largest accepted frame, bytes). SSE: ``sse_read_timeout`` (the
    stream counts as dead after this long without data or keep-alive comments).
    ``headers`` are sent with the handshake (and with every SSE request).

    TLS (``wss://``, ``https://``): ``ssl_context`` verifies the server (and may carry a
    client certificate); ``None`` uses the system's trusted CAs. A ``ws://`` or ``http://``
    connection ignores it.

    Protocol extensions: ``extensions`` names those the client asks the server for (default:
    every one this SDK implements; ``()`` speaks only the upstream protocol). A server grants
    the ones it implements (``PondClient.extensions``); against one that knows none, the client
    works exactly as without them.
    """

    connect_timeout: float = 10.0
    join_timeout: float = 10.0
    request_timeout: float = 10.0
    leave_timeout: float = 5.0
    close_timeout: float = 2.0
    reconnect: bool = True
    max_reconnect_attempts: int | None = None
    retry_initial_connect: bool = False
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_factor: float = 2.0
    backoff_jitter: float = 0.5
    queue_size: int = 1000
    queue_overflow: OverflowPolicy = "reject"
    buffer_size: int = 1000
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    max_message_size: int = 16 * 1024 * 1024
    sse_read_timeout: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)
    ssl_context: ssl.SSLContext | None = None
    extensions: tuple[str, ...] = IMPLEMENTED_EXTENSIONS

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        if self.buffer_size < 1:
            raise ValueError("buffer_size must be at least 1")
        if self.queue_overflow not in ("reject", "drop_oldest"):
            raise ValueError('queue_overflow must be "reject" or "drop_oldest"')
        for name in ("connect_timeout", "join_timeout", "request_timeout", "leave_timeout",
                     "close_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_reconnect_attempts is not None and self.max_reconnect_attempts < 0:
            raise ValueError("max_reconnect_attempts must be None or >= 0")

    def backoff(self) -> Backoff:
        """A fresh :class:`Backoff` with these settings."""
        return Backoff(self.backoff_initial, self.backoff_max, self.backoff_factor,
                       self.backoff_jitter)
