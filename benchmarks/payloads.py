"""Event payloads of a given size, made of text that compresses like real chat or JSON.

A run of one repeated character compresses about 100x and would flatter permessage-deflate;
seeded random words from a small vocabulary compress 1.6x (100 B) to 2.4x (16 KB), close to
what chat messages and JSON documents give. Every message takes a different slice, so a
compressor keeping its context across messages gains nothing it would not gain in real use.
"""

from __future__ import annotations

import json
import random
import string
from functools import cache

POOL_BYTES = 1 << 18


@cache
def _pool() -> str:
    rng = random.Random(18)
    vocabulary = ["".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(2, 9)))
                  for _ in range(500)]
    words: list[str] = []
    length = 0
    while length < POOL_BYTES:
        word = rng.choice(vocabulary)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)


def payload(size: int, seq: int) -> dict[str, object]:
    """A JSON payload ``{"seq": seq, "text": ...}`` whose encoding is ``size`` bytes
    (at least its empty form: about 25 bytes)."""
    empty = len(json.dumps({"seq": seq, "text": ""}))
    length = max(0, size - empty)
    pool = _pool()
    start = (seq * 7919) % (len(pool) - length) if length < len(pool) else 0
    return {"seq": seq, "text": pool[start:start + length]}
