"""Channel history in Redis Streams, shared by every node (``pip install "pondsocket[redis]"``).

Per channel, three keys with one hash tag (so a Redis Cluster keeps them together):

* ``<prefix>:{<channel>}:epoch``: the stream's epoch, created with ``SET NX``. When it is gone
  (a Redis restart without persistence, a flush, an eviction, ``meta_ttl`` of silence) the
  next use creates a new one and drops what is left of the old stream, so clients that
  knew the old epoch are told recovery failed;
* ``<prefix>:{<channel>}:top``: the last offset, ``INCR`` ed by the node that publishes;
* ``<prefix>:{<channel>}:log``: the Redis Stream of broadcasts (``XADD`` with ``MAXLEN`` for
  the size and ``MINID`` for the age; the stream ids are Redis' own times).

The append is one Lua script, so offsets are per channel across all nodes, gap-free and in
the stream's order. Reads are ``XREVRANGE`` of the newest entries.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from ..positions import HistoryEntry, StreamPosition
from ..pubsub import format_message_topic
from ..types import PondMessage
from .jump import shard_of

if TYPE_CHECKING:
    from ..history.options import HistoryOptions
    from ..lobby import Lobby
    from .redis_pubsub import RedisPubSub

# KEYS: epoch, top, log. ARGV: a fresh epoch, meta_ttl ms.
_ENSURE = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch, 'PX', ARGV[2])
  redis.call('DEL', KEYS[2], KEYS[3])
end
"""
_POSITION = _ENSURE + """
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""
# ARGV: a fresh epoch, meta_ttl ms, size, ttl ms, the entry (JSON without its offset).
_APPEND = _ENSURE + """
local top = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'o', top, 'e', ARGV[5])
redis.call('XTRIM', KEYS[3], 'MINID', '~', tostring(ms - tonumber(ARGV[4])))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return {epoch, top}
"""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class RedisHistoryStore:
    """A :class:`~pondsocket.history.HistoryStore` in Redis Streams, for a cluster: a client
    that reconnects to another node recovers too.

    Given several Redis clients, each channel's keys live on one, chosen by jump consistent
    hashing of the channel name (every node must list the same servers in the same order).
    With a sharded :class:`~pondsocket.distributed.RedisPubSub`, build it with
    :meth:`on_topics_of` instead: each channel's keys then live with the channel's topic.
    ``prefix`` namespaces the keys (use one per application sharing a Redis).
    """

    shared = True

    def __init__(self, redis_client: Redis | RedisCluster | Sequence[Redis], *,
                 prefix: str = "pondsocket:history") -> None:
        clients: list[Redis | RedisCluster] = (
            [redis_client] if isinstance(redis_client, Redis | RedisCluster)
            else list(redis_client))
        if not clients:
            raise ValueError("RedisHistoryStore needs at least one Redis client")
        self._prefix = prefix
        self._scripts: dict[int, tuple[AsyncScript, AsyncScript]] = {}
        self._locate: Callable[[str], tuple[Redis | RedisCluster, str]] = (
            lambda stream: (clients[shard_of(stream, len(clients))], stream))

    @classmethod
    def on_topics_of(cls, pubsub: RedisPubSub, lobby: Lobby, *,
                     prefix: str = "pondsocket:history") -> RedisHistoryStore:
        """A store that keeps each channel of ``lobby`` where ``pubsub`` carries the
        channel's topic: on the same shard (several Redis servers), or on the topic's hash
        slot (a Redis Cluster, where the topic is the keys' hash tag). With a sharded
        :class:`~pondsocket.distributed.RedisPubSub`, a channel's traffic and its history
        then live, fail and come back together."""
        options = lobby.endpoint.pond.options
        path = lobby.endpoint.path

        def locate(stream: str) -> tuple[Redis | RedisCluster, str]:
            topic = format_message_topic(path, stream, namespace=options.namespace,
                                         prefix=options.key_prefix)
            return pubsub.client_for(topic), topic

        store = cls(pubsub.client_for(format_message_topic(path, "", namespace=options.namespace,
                                                           prefix=options.key_prefix)),
                    prefix=prefix)
        store._locate = locate
        return store

    def _where(self, stream: str
               ) -> tuple[Redis | RedisCluster, AsyncScript, AsyncScript, list[str]]:
        client, tag = self._locate(stream)
        scripts = self._scripts.get(id(client))
        if scripts is None:
            scripts = self._scripts[id(client)] = (client.register_script(_APPEND),
                                                   client.register_script(_POSITION))
        base = f"{self._prefix}:{{{tag}}}"
        return client, scripts[0], scripts[1], [f"{base}:epoch", f"{base}:top", f"{base}:log"]

    @staticmethod
    def _fresh_epoch() -> str:
        return uuid.uuid4().hex[:16]

    async def append(self, stream: str, event: str, payload: PondMessage, request_id: str,
                     to: str | list[str], sender: str, options: HistoryOptions) -> int:
        _, append, _, keys = self._where(stream)
        entry = _encode({"event": event, "payload": payload, "requestId": request_id,
                         "to": to, "sender": sender, "time": time.time()})
        _, top = await _once_more(append, keys, [
            self._fresh_epoch(), int(options.meta_ttl * 1000), options.size,
            int(options.ttl * 1000), entry])
        return int(top)

    async def position(self, stream: str, options: HistoryOptions) -> StreamPosition:
        _, _, position, keys = self._where(stream)
        epoch, top = await _once_more(position, keys, [
            self._fresh_epoch(), int(options.meta_ttl * 1000)])
        return StreamPosition(epoch.decode() if isinstance(epoch, bytes) else str(epoch),
                              int(top))

    async def read(self, stream: str, after: int, limit: int,
                   options: HistoryOptions) -> list[HistoryEntry]:
        client, _, _, keys = self._where(stream)
        # The window is the newest ``size`` entries exactly (MAXLEN ~ may keep a few more).
        raw = await client.xrevrange(keys[2], "+", "-", count=options.size)
        oldest = time.time() - options.ttl
        out: list[HistoryEntry] = []
        for _, fields in reversed(raw or []):
            if not fields:
                continue
            offset = int(fields.get(b"o") or fields.get("o") or 0)
            if offset <= after:
                continue
            data = _decode(fields.get(b"e") or fields.get("e") or b"{}")
            if data["time"] < oldest:
                continue
            out.append(HistoryEntry(offset, data["event"], data["payload"], data["requestId"],
                                    data["to"], data["sender"], data["time"]))
            if len(out) >= limit:
                break
        return out


async def _run(script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
    """``EVALSHA`` of ``script`` straight through ``execute_command`` (what ``AsyncScript``
    calls, less its per-call packing); a server that lacks the script (restarted, flushed)
    gets it through ``AsyncScript``, which loads it and runs it again."""
    try:
        return await script.registered_client.execute_command(
            "EVALSHA", script.sha, len(keys), *keys, *args)
    except NoScriptError:
        return await script(keys=keys, args=args)


async def _once_more(script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
    """Run ``script``, once more on a connection error: after a Redis restart the pool's
    first connection is a dead one, and a join should not fail its recovery for that."""
    try:
        return await _run(script, keys, args)
    except RedisConnectionError:
        return await _run(script, keys, args)


__all__ = ["RedisHistoryStore"]
