"""Reconnect delays: exponential backoff with jitter."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Delay before reconnect attempt ``n`` (0-based): ``min(maximum, initial * factor**n)``,
    shortened by a random fraction of up to ``jitter`` (0 = none, 1 = "full jitter").

    With the defaults the delays are about 0.5, 1, 2, 4, 8, 16, 30, 30 ... seconds, each
    reduced by up to a half at random so that many clients do not reconnect in lockstep.
    """

    initial: float = 0.5
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5
    rng: Callable[[], float] = field(default=random.random, repr=False)
    attempt: int = 0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < 0:
            raise ValueError("backoff delays must not be negative")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be between 0 and 1")

    def peek(self) -> float:
        """The un-jittered delay of the next attempt."""
        # Cap the exponent: factor**attempt would overflow after a few hundred attempts.
        exponent = min(self.attempt, 64)
        return min(self.maximum, self.initial * self.factor ** exponent)

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        base = self.peek()
        self.attempt += 1
        return base * (1.0 - self.jitter * self.rng())

    def reset(self) -> None:
        """Start again from ``initial`` (after a successful connection)."""
        self.attempt = 0
