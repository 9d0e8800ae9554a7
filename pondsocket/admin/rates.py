"""Per-second rates of the admin documents' counters, computed when documents are asked for
(nothing runs in the background)."""

from __future__ import annotations

from collections import deque
from typing import Any

#: The counters that have per-second rates, in the order of :meth:`RateMeter.rates`.
RATE_KEYS = ("messages_received", "messages_broadcast", "frames_delivered")
NODE_RATE_KEYS = (*RATE_KEYS, "connections_opened")


class RateMeter:
    """Per-second rates of growing counters, from samples taken when documents are built.

    Nothing runs in the background: each request adds a sample (at most one per
    ``min_interval``) and the rate is the growth since the oldest sample of the last
    ``window`` seconds. Before two samples exist it is the average since ``since``.
    """

    def __init__(self, window: float = 10.0, min_interval: float = 0.5) -> None:
        self.window = window
        self.min_interval = min_interval
        self._samples: dict[Any, deque[tuple[float, tuple[int, ...]]]] = {}

    def rates(self, key: Any, values: tuple[int, ...], since: float,
              now: float) -> tuple[float, ...]:
        """The rates of ``values`` (counters of ``key``, counting from monotonic ``since``)."""
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque()
        if not samples or now - samples[-1][0] >= self.min_interval:
            samples.append((now, values))
        # Keep one sample at or before the window's start: the rate spans the whole window.
        while len(samples) > 2 and samples[1][0] <= now - self.window:
            samples.popleft()
        start, old = samples[0]
        if now - start < self.min_interval:
            start, old = since, (0,) * len(values)
        span = now - start
        if span <= 0:
            return (0.0,) * len(values)
        return tuple(round(max(0, v - o) / span, 2) for v, o in zip(values, old, strict=True))

    def keep_only(self, keys: set[Any]) -> None:
        """Forget the samples of keys not in ``keys`` (closed channels)."""
        for key in [k for k in self._samples if k not in keys]:
            del self._samples[key]


__all__ = ["NODE_RATE_KEYS", "RATE_KEYS", "RateMeter"]
