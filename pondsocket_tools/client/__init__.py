"""The PondSocket client SDK: asyncio, over WebSocket (``websockets``) or Server-Sent Events
(``httpx`` + ``httpx-sse``), with the same API for both.

::

    from pondsocket_tools.client import PondClient

    async with PondClient("ws://127.0.0.1:8765/api/socket",
                          params={"token": "demo"}) as client:
        chat = await client.join("/chat/1", {"name": "ada"})
        await chat.send("message", {"text": "hi"})
        answer = await chat.request("ping", {}, timeout=5)
        async for msg in chat.messages():
            print(msg.event, msg.payload)

See ``docs/client.md``.
"""

from .backoff import Backoff
from .channel import Channel, ChannelState
from .client import ConnectionState, PondClient, StateChange
from .errors import (
    ChannelClosedError,
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    EvictedError,
    HandshakeRejectedError,
    JoinDeclinedError,
    JoinTimeoutError,
    PondClientError,
    ProtocolError,
    QueueFullError,
    RequestTimeoutError,
    ServerError,
)
from .options import ClientOptions
from .protocol import Message, PresenceEvent, RecoveryFailure, ServerFrame
from .streams import Subscription
from .transport import build_url
from .typed import PondEvent, PondSchema, TypedChannel, build_channel_name, join_typed

__all__ = [
    "Backoff",
    "Channel",
    "ChannelClosedError",
    "ChannelState",
    "ClientClosedError",
    "ClientOptions",
    "ConnectError",
    "ConnectionLostError",
    "ConnectionState",
    "EvictedError",
    "HandshakeRejectedError",
    "JoinDeclinedError",
    "JoinTimeoutError",
    "Message",
    "PondClient",
    "PondClientError",
    "PondEvent",
    "PondSchema",
    "PresenceEvent",
    "ProtocolError",
    "QueueFullError",
    "RecoveryFailure",
    "RequestTimeoutError",
    "ServerError",
    "ServerFrame",
    "StateChange",
    "Subscription",
    "TypedChannel",
    "build_channel_name",
    "build_url",
    "join_typed",
]
