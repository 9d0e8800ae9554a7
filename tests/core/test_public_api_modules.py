"""The public API stays where users import it from.

Every name that ``pondsocket``, ``pondsocket.asgi``, ``pondsocket.wsserver``,
``pondsocket.distributed`` and ``pondsocket.typed`` offered before the core was layered into
folders (``__all__``, or the public names defined in the module for the two without one) must
still import from there; and every class and function ``pondsocket`` exports is defined in a
module of the package that lists it in its own ``__all__``, so ``__all__`` follows the code.
"""

from __future__ import annotations

import importlib
import inspect

import pytest

import pondsocket

BEFORE_THE_LAYERS: dict[str, list[str]] = {
    "pondsocket": [
    "AdminInspector", "AdminOptions", "AfterJoin", "AfterMessage", "AllExceptSender", "AllUsers",
    "BaseTransport", "BeforeJoin", "BeforeMessage", "Channel", "ChannelReceiver", "ClientActions",
    "ConnectionContext", "ConnectionDecision", "ConnectionHandler", "ConnectionMiddlewareFn",
    "DistributedMessageType", "Endpoint", "EndpointMatch", "ErrorTypes", "Event", "EventContext",
    "EventHandler", "EventMiddlewareFn", "Frame", "Headers", "Hooks", "InMemoryTransport",
    "IncomingConnection", "InternalActions", "JoinContext", "JoinHandler", "JoinMiddlewareFn",
    "JoinParams", "LeaveContext", "LeaveHandler", "LeaveReason", "Lobby", "LocalBus",
    "LocalPubSub", "Member", "MessageEvent", "MetricsCollector", "Middleware", "MultiError",
    "NoopMetrics", "OnCloseCallback", "OnConnect", "OnDisconnect", "OnMessageHandler", "Options",
    "OutgoingContext", "OutgoingHandler", "OverflowPolicy", "PondAssigns", "PondError",
    "PondEvent", "PondMessage", "PondObject", "PondPresence", "PondSchema", "PondSocket",
    "PresenceClient", "PresenceEventTypes", "PubSub", "PubSubClosedError", "PushableTransport",
    "RateLimiter", "RecipientSpec", "Route", "SSEServerTransport", "ServerActions", "Store",
    "SystemEntity", "SystemEvents", "ToUsers", "TokenBucketRateLimiter", "Transport",
    "TransportType", "TypedChannel", "TypedEventContext", "TypedEventHandler", "TypedJoinContext",
    "TypedJoinHandler", "TypedLobby", "TypedPresencePayload", "User", "UserData", "WireError",
    "__version__", "bad_request", "conflict", "encode_frame", "error_event", "event_to_json",
    "event_to_pubsub_bytes", "event_to_wire", "forbidden", "format_heartbeat_topic",
    "format_message_topic", "format_presence_topic", "format_system_topic", "format_topic",
    "from_pond_object", "internal", "match_topic", "not_found", "parse", "parse_inbound_text",
    "pond_event", "pond_schema", "pubsub_bytes_to_event", "timeout", "to_pond_object",
    "too_many_requests", "typed_lobby", "unauthorized", "unavailable", "uuid", "wire_to_event",
    "with_metrics", "with_rate_limiter",
    ],
    "pondsocket.asgi": [
    "ASGIWebSocketTransport", "AdminOptions", "PondASGIApp", "SSEOptions",
    ],
    "pondsocket.wsserver": [
    "PondWebSocketsServer", "WebSocketsTransport", "serve",
    # compress-once (#18)
    "COMPRESSION_MODES", "WRITE_HIGH_WATER", "compress_once_extensions",
    ],
    "pondsocket.wsframes": [
    "PLAIN", "FrameEncoding", "SharedDeflate", "encoding_for",
    ],
    "pondsocket.distributed": [
    "RedisPubSub",
    "RedisHistoryStore",  # shared channel history (#16)
    ],
    "pondsocket.history": [  # recovery on rejoin (#16)
    "EPOCH_CHANGED", "FROM_THE_FUTURE", "TOO_MANY", "TOO_OLD", "HistoryOptions",
    "HistoryStore", "LobbyHistory", "MemoryHistoryStore", "enable_history", "new_epoch",
    ],
    "pondsocket.positions": [
    "MAX_OFFSET", "RECOVER_KEY", "ChannelHistory", "HistoryEntry", "Recovery",
    "StreamPosition", "pop_recovery_request",
    ],
    "pondsocket.typed": [
    "AssignsT", "JoinParamsT", "PayloadT", "PondEvent", "PondSchema", "PresenceT", "ResponseT",
    "TypedChannel", "TypedEventContext", "TypedJoinContext", "TypedLobby", "TypedPresencePayload",
    "from_pond_object", "pond_event", "pond_schema", "to_pond_object", "typed_lobby",
    ],
}


@pytest.mark.parametrize("module", sorted(BEFORE_THE_LAYERS))
def test_every_name_still_imports_from_where_it_did(module: str) -> None:
    imported = importlib.import_module(module)
    missing = [name for name in BEFORE_THE_LAYERS[module] if not hasattr(imported, name)]
    assert missing == []


def test_each_exported_class_and_function_is_exported_by_its_defining_module() -> None:
    wrong = []
    for name in pondsocket.__all__:
        obj = getattr(pondsocket, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        defining = obj.__module__
        if not defining.startswith("pondsocket"):
            continue  # a re-exported standard type
        exported = getattr(importlib.import_module(defining), "__all__", ())
        if obj.__name__ not in exported:
            wrong.append(f"{name}: defined in {defining}, missing from its __all__")
    assert wrong == []
