"""The admin API's configuration."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class AdminOptions:
    """Configuration of the admin API (off unless passed to the adapter).

    ``token`` is the bearer token every request must carry; ``prefix`` is where the routes
    live; ``expose_assigns`` adds members' assigns to channel documents; ``allow_writes``
    enables the evict and close actions; ``event_queue_size`` bounds each event stream's
    backlog; ``cluster_timeout`` is how long a cluster-wide request waits for the other
    nodes' answers (a node that misses it is reported, not waited for);
    ``expose_history_payloads`` adds the payloads to channel history documents
    (``/channels/{name}/history``), which otherwise list offsets, events and times only.
    """

    token: str
    prefix: str = "/_pond/admin"
    expose_assigns: bool = False
    allow_writes: bool = False
    event_queue_size: int = 1024
    cluster_timeout: float = 1.0
    expose_history_payloads: bool = False

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("AdminOptions.token must not be empty")
        if self.cluster_timeout <= 0:
            raise ValueError("AdminOptions.cluster_timeout must be positive")
        self.prefix = "/" + self.prefix.strip("/") if self.prefix.strip("/") else ""


__all__ = ["AdminOptions"]
