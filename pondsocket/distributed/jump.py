"""Jump consistent hashing (Lamping and Veach, 2014): which of N shards serves a topic.

Adding a shard moves only about 1/N of the topics, and every node computes the same answer
without coordination.
"""

from __future__ import annotations

import hashlib

_MASK = (1 << 64) - 1


def jump_hash(key: int, buckets: int) -> int:
    """The bucket in ``range(buckets)`` of the 64-bit ``key``."""
    if buckets <= 0:
        raise ValueError("buckets must be positive")
    bucket, candidate = -1, 0
    while candidate < buckets:
        bucket = candidate
        key = (key * 2862933555777941757 + 1) & _MASK
        candidate = int((bucket + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return bucket


def topic_key(topic: str) -> int:
    """A stable 64-bit key of ``topic`` (the same in every process, unlike ``hash()``)."""
    return int.from_bytes(hashlib.blake2b(topic.encode(), digest_size=8).digest(), "big")


def shard_of(topic: str, shards: int) -> int:
    """The shard in ``range(shards)`` that carries ``topic`` (0 for one shard, unhashed:
    topics are placed on every message's path)."""
    if shards == 1:
        return 0
    return jump_hash(topic_key(topic), shards)


__all__ = ["jump_hash", "shard_of", "topic_key"]
