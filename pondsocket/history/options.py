"""How much history a lobby keeps, and how much one recovery may replay."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """Bounds of one lobby's channel history (every bound is enforced).

    * ``size``: broadcasts kept per channel (100); older ones are trimmed away.
    * ``ttl``: seconds a broadcast is kept (300); an older one is trimmed away.
    * ``recovery_limit``: most broadcasts one rejoin may replay (300, as Centrifugo); a
      client that missed more is told recovery failed and reloads.
    * ``meta_ttl``: seconds a channel's epoch and top offset outlive its last broadcast
      (3600); after that the stream starts again in a new epoch.
    """

    size: int = 100
    ttl: float = 300.0
    recovery_limit: int = 300
    meta_ttl: float = 3600.0

    def __post_init__(self) -> None:
        if self.size <= 0 or self.recovery_limit <= 0:
            raise ValueError("history size and recovery_limit must be positive")
        if self.ttl <= 0 or self.meta_ttl < self.ttl:
            raise ValueError("history ttl must be positive and meta_ttl at least ttl")


__all__ = ["HistoryOptions"]
