"""Protocol and lifecycle enumerations.

Values are the strings that travel on the wire (or appear in logs), so every enum is a
``str`` subclass and compares equal to its value.
"""

from __future__ import annotations

from enum import StrEnum


class ServerActions(StrEnum):
    """The ``action`` of a server -> client frame. Clients reject any other value."""

    PRESENCE = "PRESENCE"
    SYSTEM = "SYSTEM"
    BROADCAST = "BROADCAST"
    ERROR = "ERROR"
    CONNECT = "CONNECT"


class ClientActions(StrEnum):
    """The ``action`` of a client -> server frame."""

    JOIN_CHANNEL = "JOIN_CHANNEL"
    LEAVE_CHANNEL = "LEAVE_CHANNEL"
    BROADCAST = "BROADCAST"


class PresenceEventTypes(StrEnum):
    """The ``event`` of a ``PRESENCE`` frame."""

    JOIN = "JOIN"
    LEAVE = "LEAVE"
    UPDATE = "UPDATE"


class SystemEvents(StrEnum):
    """``event`` names of the ``SYSTEM`` and ``CONNECT`` frames the server sends."""

    ACKNOWLEDGE = "ACKNOWLEDGE"
    EXIT_ACKNOWLEDGE = "EXIT_ACKNOWLEDGE"
    CONNECTION = "CONNECTION"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHORIZED = "UNAUTHORIZED"
    EVICTED = "EVICTED"


class ErrorTypes(StrEnum):
    """``event`` names of the ``ERROR`` frames the server sends."""

    UNAUTHORIZED_CONNECTION = "UNAUTHORIZED_CONNECTION"
    UNAUTHORIZED_JOIN_REQUEST = "UNAUTHORIZED_JOIN_REQUEST"
    UNAUTHORIZED_BROADCAST = "UNAUTHORIZED_BROADCAST"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    HANDLER_NOT_FOUND = "HANDLER_NOT_FOUND"
    PRESENCE_ERROR = "PRESENCE_ERROR"
    CHANNEL_ERROR = "CHANNEL_ERROR"
    ENDPOINT_ERROR = "ENDPOINT_ERROR"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
    RATE_LIMITED = "RATE_LIMITED"


class SystemEntity(StrEnum):
    """Pseudo channel names used by frames that belong to no channel."""

    GATEWAY = "GATEWAY"
    CHANNEL = "CHANNEL"


class ChannelReceiver(StrEnum):
    """Symbolic recipient sets of a broadcast."""

    ALL_USERS = "ALL_USERS"
    ALL_EXCEPT_SENDER = "ALL_EXCEPT_SENDER"


class LeaveReason(StrEnum):
    """Why a user left a channel (passed to ``on_leave`` handlers)."""

    EXPLICIT_LEAVE = "explicit_leave"
    CONNECTION_CLOSED = "connection_closed"
    EVICTED = "evicted"
    CHANNEL_CLOSED = "channel_closed"


class TransportType(StrEnum):
    """The kind of connection behind a transport."""

    WEBSOCKET = "websocket"
    SSE = "sse"
    MEMORY = "memory"


class ConnectionDecision(StrEnum):
    """State of a :class:`~pondsocket.ConnectionContext`."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


class InternalActions(StrEnum):
    """Actions of node-to-node commands that never reach a client."""

    ASSIGNS = "ASSIGNS"
    USER_COMMAND = "USER_COMMAND"


class OverflowPolicy(StrEnum):
    """What happens when a connection's outbound queue is full.

    ``CLOSE`` closes the connection (code 1013) so that the client reconnects and nothing is
    lost silently; ``DROP_OLDEST`` discards the oldest queued frame and counts it.
    """

    CLOSE = "close"
    DROP_OLDEST = "drop_oldest"


class DistributedMessageType(StrEnum):
    """``type`` of a node-to-node message (distributed protocol v1)."""

    STATE_REQUEST = "STATE_REQUEST"
    STATE_RESPONSE = "STATE_RESPONSE"
    USER_JOINED = "USER_JOINED"
    USER_LEFT = "USER_LEFT"
    USER_MESSAGE = "USER_MESSAGE"
    PRESENCE_UPDATE = "PRESENCE_UPDATE"
    PRESENCE_REMOVED = "PRESENCE_REMOVED"
    ASSIGNS_UPDATE = "ASSIGNS_UPDATE"
    EVICT_USER = "EVICT_USER"
    USER_REMOVE = "USER_REMOVE"
    USER_GET_REQUEST = "USER_GET_REQUEST"
    USER_GET_RESPONSE = "USER_GET_RESPONSE"
    NODE_HEARTBEAT = "NODE_HEARTBEAT"


__all__ = ["ChannelReceiver", "ClientActions", "ConnectionDecision", "DistributedMessageType",
           "ErrorTypes", "InternalActions", "LeaveReason", "OverflowPolicy", "PresenceEventTypes",
           "ServerActions", "SystemEntity", "SystemEvents", "TransportType"]
