"""Transports: the core's view of a client connection."""

from .base import (
    CLOSE_GOING_AWAY,
    CLOSE_NORMAL,
    CLOSE_TRY_AGAIN_LATER,
    BaseTransport,
    OnCloseCallback,
    OnMessageHandler,
    PushableTransport,
    Transport,
    deliver,
)
from .foreign import ProtocolTransport
from .memory import InMemoryTransport
from .sse import SSEServerTransport

__all__ = [
    "CLOSE_GOING_AWAY", "CLOSE_NORMAL", "CLOSE_TRY_AGAIN_LATER", "BaseTransport",
    "InMemoryTransport", "OnCloseCallback", "OnMessageHandler", "ProtocolTransport",
    "PushableTransport",
    "SSEServerTransport", "Transport", "deliver",
]
