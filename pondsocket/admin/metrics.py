"""A node's overview document in the Prometheus text exposition format 0.0.4."""

from __future__ import annotations

from typing import Any

_METRICS: tuple[tuple[str, str, str, Any], ...] = (
    ("pondsocket_uptime_seconds", "gauge", "Seconds since the server started.",
     lambda o: o["uptime_seconds"]),
    ("pondsocket_endpoints", "gauge", "Registered endpoints.", lambda o: o["endpoint_count"]),
    ("pondsocket_connections", "gauge", "Open connections.", lambda o: o["connection_count"]),
    ("pondsocket_channels", "gauge", "Live channels.", lambda o: o["channel_count"]),
    ("pondsocket_channel_members", "gauge", "Local channel memberships.",
     lambda o: o["member_count"]),
    ("pondsocket_queued_frames", "gauge", "Frames waiting in connection queues.",
     lambda o: o["counters"]["queued_frames"]),
    ("pondsocket_dropped_frames", "gauge",
     "Frames dropped by the open connections' full queues.",
     lambda o: o["counters"]["dropped_frames"]),
    ("pondsocket_cluster_nodes", "gauge", "Cluster peers heard from.",
     lambda o: len(o["cluster_nodes"])),
    ("pondsocket_connections_opened_total", "counter", "Connections opened.",
     lambda o: o["counters"]["connections_opened"]),
    ("pondsocket_connections_closed_total", "counter", "Connections closed.",
     lambda o: o["counters"]["connections_closed"]),
    ("pondsocket_messages_received_total", "counter", "Client broadcasts received.",
     lambda o: o["counters"]["messages_received"]),
    ("pondsocket_messages_broadcast_total", "counter", "Channel broadcasts sent.",
     lambda o: o["counters"]["messages_broadcast"]),
    ("pondsocket_frames_delivered_total", "counter", "Frames queued to channel members.",
     lambda o: o["counters"]["frames_delivered"]),
)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def metrics_text(overviews: list[dict[str, Any]], *, by_node: bool = False) -> str:
    """Overview documents in the Prometheus text exposition format 0.0.4.

    One node's overview gives unlabelled series (Prometheus adds ``instance`` when it scrapes
    each node); with ``by_node`` every series carries a ``node`` label, one per overview.
    """
    lines = []
    for name, kind, help_text, value in _METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for overview in overviews:
            labels = f'{{node="{_label(str(overview["node_id"]))}"}}' if by_node else ""
            lines.append(f"{name}{labels} {value(overview)}")
    return "\n".join(lines) + "\n"


__all__ = ["metrics_text"]
