"""The ASGI adapter: serve a :class:`~pondsocket.PondSocket` with uvicorn or any ASGI server."""

from ..admin.options import AdminOptions
from .app import PondASGIApp
from .sse import SSEOptions
from .websocket import ASGIWebSocketTransport

__all__ = ["AdminOptions", "ASGIWebSocketTransport", "PondASGIApp", "SSEOptions"]
