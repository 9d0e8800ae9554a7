"""Server-wide options. Every option here is enforced; none is decorative."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .enums import OverflowPolicy

if TYPE_CHECKING:
    from .hooks import Hooks


@dataclass(slots=True)
class Options:
    """Limits and behaviour of a :class:`~pondsocket.PondSocket`.

    * ``max_message_size``: largest accepted client frame in bytes (UTF-8); a larger one is
      answered with an ``ERROR``/``INVALID_MESSAGE`` frame, code 413, and dropped.
    * ``max_connections``: connections per endpoint, 0 for no limit. Checked before the
      connection handler runs; the adapter refuses the handshake with 503.
    * ``send_channel_buffer``: frames queued per connection before ``overflow_policy`` applies.
    * ``overflow_policy``: ``"close"`` (default: the connection is closed with code 1013 and the
      client reconnects, nothing is lost silently) or ``"drop_oldest"`` (the oldest queued frame
      is dropped and counted in the transport's ``dropped_frames``).
    * ``send_timeout``: seconds one write may take; a connection that cannot take a frame for
      that long is closed (code 1013), so a stalled peer never holds memory for ever.
    * ``hooks``: rate limiters, metrics and lifecycle callbacks (:class:`Hooks`).
    * ``max_channels_per_connection``: channels one connection may be in (joins under way
      included), 0 for no limit; a join beyond is refused with code 429.
    * ``max_channel_name_length``: characters in a channel name a client may join; a longer
      one, or one with a control character or ``*``, is refused with code 400.
    * ``max_members_per_channel``: local members of one channel, 0 for no limit (per node in
      a cluster); a join beyond is refused with code 503.
    * ``max_presence_size``: bytes of one member's presence as JSON, 0 for no limit; tracking
      or updating a larger one raises ``PondError`` 413.
    * ``presence_coalesce_window``: seconds within which presence changes of one channel go
      out together (0.05; 0 sends every change at once). Always for clients with the
      ``presence-diff`` extension; for the others only above ``presence_coalesce_threshold``
      tracked members (100), see docs/big-rooms.md.

    With a ``pubsub`` (a cluster, see :mod:`pondsocket.cluster`):

    * ``node_id``: this node's id (default: a random one per process);
    * ``namespace`` and ``key_prefix``: topics are ``<key_prefix>:v1:<namespace>:...``;
      nodes see each other only within one namespace;
    * ``heartbeat_interval``: seconds between heartbeats (2); ``heartbeat_timeout``: silence
      after which a node counts as dead and its members leave (8: a killed node's members
      leave within 9 s). Silence while this node's own pub/sub link is down never counts;
    * ``cluster_secret``: when set, every node-to-node message is signed with HMAC-SHA256
      and unsigned or forged ones are dropped (all nodes need the same secret);
    * ``cluster_outbox_limit``: messages kept while the pub/sub is down (the oldest beyond
      are dropped and counted in ``pond.cluster.dropped``);
    * ``cluster_replay_limit`` and ``cluster_replay_max_age`` (seconds): how many of its
      recent broadcasts and evictions (over all its channels), and how old at most, a node
      publishes again for a peer that missed them (0 turns the replay off);
    * ``cluster_dedupe_window``: how many message ids a node remembers to drop duplicates.
    """

    max_message_size: int = 1024 * 1024
    max_connections: int = 0
    send_channel_buffer: int = 256
    overflow_policy: OverflowPolicy | str = OverflowPolicy.CLOSE
    send_timeout: float = 10.0
    hooks: Hooks | None = field(default=None)
    max_channels_per_connection: int = 128
    max_channel_name_length: int = 256
    max_members_per_channel: int = 0
    max_presence_size: int = 8 * 1024
    presence_coalesce_window: float = 0.05
    presence_coalesce_threshold: int = 100
    node_id: str = ""
    namespace: str = "default"
    key_prefix: str = "pondsocket"
    heartbeat_interval: float = 2.0
    heartbeat_timeout: float = 8.0
    cluster_secret: str | bytes | None = None
    cluster_outbox_limit: int = 10_000
    cluster_replay_limit: int = 4_096
    cluster_replay_max_age: float = 600.0
    cluster_dedupe_window: int = 16_384

    def __post_init__(self) -> None:
        if self.max_message_size <= 0:
            raise ValueError("max_message_size must be positive")
        if self.max_connections < 0:
            raise ValueError("max_connections must be 0 (no limit) or positive")
        if self.send_channel_buffer <= 0:
            raise ValueError("send_channel_buffer must be positive")
        if self.send_timeout <= 0:
            raise ValueError("send_timeout must be positive")
        if min(self.max_channels_per_connection, self.max_members_per_channel,
               self.max_presence_size) < 0:
            raise ValueError("max_channels_per_connection, max_members_per_channel and "
                             "max_presence_size must be 0 (no limit) or positive")
        if self.presence_coalesce_window < 0 or self.presence_coalesce_threshold < 0:
            raise ValueError("presence_coalesce_window and presence_coalesce_threshold must "
                             "be 0 or positive")
        if self.max_channel_name_length <= 0:
            raise ValueError("max_channel_name_length must be positive")
        self.overflow_policy = OverflowPolicy(self.overflow_policy)
        if self.heartbeat_interval <= 0 or self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must be longer than heartbeat_interval > 0")
        if self.cluster_outbox_limit <= 0:
            raise ValueError("cluster_outbox_limit must be positive")
        if self.cluster_replay_limit < 0 or self.cluster_replay_max_age < 0:
            raise ValueError("cluster_replay_limit and cluster_replay_max_age must be 0 (no "
                             "replay) or positive")
        if self.cluster_dedupe_window <= 0:
            raise ValueError("cluster_dedupe_window must be positive")


__all__ = ["Options"]
