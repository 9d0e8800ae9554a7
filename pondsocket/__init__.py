"""PondSocket: a channel-based real-time framework with a bring-your-own-server design.

``PondSocket`` -> ``Endpoint`` (a URL path and its connection handler) -> ``Lobby`` (a channel
pattern such as ``/chat/:room_id``) -> ``Channel`` (a live instance with members, presence and
assigns). Serve it with :mod:`pondsocket.asgi`, or test it in-process with
:class:`InMemoryTransport`.
"""

from .admin.documents import AdminInspector
from .admin.options import AdminOptions
from .channel import Channel, Member
from .contexts import (
    ConnectionContext,
    EventContext,
    JoinContext,
    LeaveContext,
    OutgoingContext,
)
from .endpoint import ConnectionHandler, ConnectionMiddlewareFn, Endpoint
from .enums import (
    ChannelReceiver,
    ClientActions,
    ConnectionDecision,
    DistributedMessageType,
    ErrorTypes,
    InternalActions,
    LeaveReason,
    OverflowPolicy,
    PresenceEventTypes,
    ServerActions,
    SystemEntity,
    SystemEvents,
    TransportType,
)
from .errors import (
    MultiError,
    PondError,
    bad_request,
    conflict,
    error_event,
    forbidden,
    internal,
    not_found,
    timeout,
    too_many_requests,
    unauthorized,
    unavailable,
)
from .hooks import (
    AfterJoin,
    AfterMessage,
    BeforeJoin,
    BeforeMessage,
    Hooks,
    MetricsCollector,
    NoopMetrics,
    OnConnect,
    OnDisconnect,
    RateLimiter,
    TokenBucketRateLimiter,
    with_metrics,
    with_rate_limiter,
)
from .listeners import PondListener
from .lobby import (
    EventHandler,
    EventMiddlewareFn,
    JoinHandler,
    JoinMiddlewareFn,
    LeaveHandler,
    Lobby,
    OutgoingHandler,
)
from .middleware import Middleware
from .options import Options
from .patterns import parse
from .pubsub import (
    LocalBus,
    LocalPubSub,
    PubSub,
    PubSubClosedError,
    format_heartbeat_topic,
    format_message_topic,
    format_presence_topic,
    format_system_topic,
    format_topic,
    match_topic,
)
from .server import EndpointMatch, PondSocket
from .store import PresenceClient, Store
from .transport import (
    BaseTransport,
    InMemoryTransport,
    OnCloseCallback,
    OnMessageHandler,
    PushableTransport,
    SSEServerTransport,
    Transport,
)
from .typed import (
    PondEvent,
    PondSchema,
    TypedChannel,
    TypedEventContext,
    TypedEventHandler,
    TypedJoinContext,
    TypedJoinHandler,
    TypedLobby,
    TypedPresencePayload,
    from_pond_object,
    pond_event,
    pond_schema,
    to_pond_object,
    typed_lobby,
)
from .types import (
    AllExceptSender,
    AllUsers,
    Event,
    Headers,
    IncomingConnection,
    JoinParams,
    MessageEvent,
    PondAssigns,
    PondMessage,
    PondObject,
    PondPresence,
    RecipientSpec,
    Route,
    ToUsers,
    User,
    UserData,
)
from .wire import (
    Frame,
    WireError,
    encode_frame,
    event_to_json,
    event_to_pubsub_bytes,
    event_to_wire,
    parse_inbound_text,
    pubsub_bytes_to_event,
    uuid,
    wire_to_event,
)

__version__ = "0.1.0"

__all__ = [
    "AdminInspector", "AdminOptions", "AfterJoin", "AfterMessage", "AllExceptSender",
    "AllUsers", "BaseTransport", "BeforeJoin",
    "BeforeMessage", "Channel", "ChannelReceiver", "ClientActions", "ConnectionContext",
    "ConnectionDecision", "ConnectionHandler", "ConnectionMiddlewareFn",
    "DistributedMessageType", "Endpoint",
    "EndpointMatch", "ErrorTypes", "Event", "EventContext", "EventHandler", "EventMiddlewareFn",
    "Frame", "Headers", "Hooks", "InMemoryTransport", "IncomingConnection", "InternalActions",
    "JoinContext", "JoinHandler", "JoinMiddlewareFn", "JoinParams", "LeaveContext",
    "LeaveHandler", "LeaveReason", "Lobby", "LocalBus", "LocalPubSub", "Member", "MessageEvent",
    "MetricsCollector", "Middleware", "MultiError", "NoopMetrics", "OnCloseCallback",
    "OnConnect", "OnDisconnect", "OnMessageHandler", "Options", "OutgoingContext",
    "OutgoingHandler", "OverflowPolicy", "PondAssigns", "PondError", "PondEvent", "PondMessage",
    "PondListener", "PondObject", "PondPresence", "PondSchema", "PondSocket", "PresenceClient",
    "PresenceEventTypes", "PubSub", "PubSubClosedError", "PushableTransport", "RateLimiter",
    "RecipientSpec", "Route", "SSEServerTransport", "ServerActions", "Store", "SystemEntity",
    "SystemEvents", "ToUsers", "TokenBucketRateLimiter", "Transport", "TransportType",
    "TypedChannel", "TypedEventContext", "TypedEventHandler", "TypedJoinContext",
    "TypedJoinHandler", "TypedLobby", "TypedPresencePayload", "User", "UserData", "WireError",
    "__version__", "bad_request", "conflict", "encode_frame", "error_event", "event_to_json",
    "event_to_pubsub_bytes", "event_to_wire", "forbidden", "format_heartbeat_topic",
    "format_message_topic", "format_presence_topic", "format_system_topic", "format_topic",
    "from_pond_object", "internal", "match_topic", "not_found", "parse", "parse_inbound_text",
    "pond_event", "pond_schema", "pubsub_bytes_to_event", "timeout", "to_pond_object",
    "too_many_requests", "typed_lobby", "unauthorized", "unavailable", "uuid", "with_metrics",
    "with_rate_limiter", "wire_to_event",
]
