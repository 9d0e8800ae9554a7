"""Merging the admin documents of several cluster nodes into one (see ``docs/admin.md``).

Each function takes the nodes' answers, this node's first (:class:`NodeAnswer`), and returns
the document the admin API serves with ``scope=cluster``. Sums are sums of what each node
counts for itself (its own connections, members, messages and deliveries), so nothing is
counted twice. Every merged document lists the nodes asked in ``"nodes"``, each with
``"ok"`` and, for a node that did not answer in time, its ``"error"``; a channel lists the
nodes it has members on in ``"node_ids"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .documents import sort_connections

#: The fields of a node's overview kept in the merged overview's ``nodes`` list.
NODE_FIELDS = ("started_at", "uptime_seconds", "endpoint_count", "connection_count",
               "channel_count", "member_count", "counters", "rates", "cluster_nodes")


@dataclass(frozen=True, slots=True)
class NodeAnswer:
    """One node's answer to an admin query: its document, or why there is none."""

    node_id: str
    document: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def node_status(answers: Iterable[NodeAnswer]) -> list[dict[str, Any]]:
    """``[{"node_id", "ok", "error"?}]``: who answered."""
    return [{"node_id": a.node_id, "ok": a.ok, **({"error": a.error} if a.error else {})}
            for a in answers]


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        total[key] = total.get(key, 0) + value


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 2) for key, value in values.items()}


def merge_overview(answers: list[NodeAnswer]) -> dict[str, Any]:
    """This node's overview with cluster-wide sizes, counters and rates, and ``nodes``: each
    node's own figures (``channel_count`` counts a channel present on several nodes once)."""
    mine = answers[0].document
    counters: dict[str, int] = {}
    rates: dict[str, float] = {}
    channels: set[tuple[str, str]] = set()
    nodes = []
    for answer in answers:
        doc = answer.document
        if not answer.ok or doc is None:
            nodes.append({"node_id": answer.node_id, "ok": False, "error": answer.error})
            continue
        _add(counters, doc["counters"])
        _add(rates, doc["rates"])
        channels.update((endpoint, name) for endpoint, name in doc.get("channel_keys", ()))
        nodes.append({"node_id": answer.node_id, "ok": True,
                      **{key: doc[key] for key in NODE_FIELDS if key in doc}})
    ok = [a.document for a in answers if a.ok and a.document is not None]
    return {**{k: v for k, v in mine.items() if k != "channel_keys"},
            "endpoint_count": max(doc["endpoint_count"] for doc in ok),
            "connection_count": sum(doc["connection_count"] for doc in ok),
            "channel_count": len(channels),
            "member_count": sum(doc["member_count"] for doc in ok),
            "counters": counters, "rates": _rounded(rates), "nodes": nodes}


def merge_endpoints(answers: list[NodeAnswer]) -> dict[str, Any]:
    """Endpoints by path, with the connections of every node."""
    merged: dict[str, dict[str, Any]] = {}
    for answer in answers:
        for endpoint in (answer.document or {}).get("endpoints", ()):
            entry = merged.get(endpoint["path"])
            if entry is None:
                merged[endpoint["path"]] = {**endpoint, "lobbies": list(endpoint["lobbies"])}
                continue
            entry["connection_count"] += endpoint["connection_count"]
            entry["lobbies"] += [p for p in endpoint["lobbies"] if p not in entry["lobbies"]]
    return {"endpoints": list(merged.values()), "nodes": node_status(answers)}


def _merge_summaries(answers: list[NodeAnswer],
                     summaries: Iterable[tuple[int, dict[str, Any]]]) -> dict[str, Any] | None:
    """One channel's summaries from several nodes (``(answer index, summary)``) as one:
    ``member_count`` is this node's members, ``remote_member_count`` the other nodes'."""
    merged: dict[str, Any] | None = None
    for index, summary in summaries:
        if merged is None:
            merged = {**summary, "member_count": 0, "remote_member_count": 0,
                      "messages_received": 0, "messages_broadcast": 0,
                      "frames_delivered": 0, "rates": {}, "node_ids": []}
        merged["member_count" if index == 0 else "remote_member_count"] += (
            summary["member_count"])
        for key in ("messages_received", "messages_broadcast", "frames_delivered"):
            merged[key] += summary[key]
        _add(merged["rates"], summary["rates"])
        merged["created_at"] = min(merged["created_at"], summary["created_at"])
        merged["node_ids"].append(answers[index].node_id)
    if merged is not None:
        merged["rates"] = _rounded(merged["rates"])
    return merged


def merge_channels(answers: list[NodeAnswer]) -> dict[str, Any]:
    """Every channel of every node, once, with cluster-wide counters and rates."""
    by_key: dict[tuple[str, str], list[tuple[int, dict[str, Any]]]] = {}
    for index, answer in enumerate(answers):
        for summary in (answer.document or {}).get("channels", ()):
            by_key.setdefault((summary["endpoint"], summary["name"]), []).append(
                (index, summary))
    return {"channels": [_merge_summaries(answers, parts) for parts in by_key.values()],
            "nodes": node_status(answers)}


def merge_channel(answers: list[NodeAnswer]) -> dict[str, Any] | None:
    """One channel: each node's own members (``"node"``: ``"local"`` for this node's, else
    the node id); for a node that did not answer, this node's replica of its members."""
    parts = [(i, a.document) for i, a in enumerate(answers) if a.ok and a.document]
    merged = _merge_summaries(answers, ((i, doc) for i, doc in parts))
    if merged is None:
        return None
    answered = {a.node_id for a in answers if a.ok}
    members: list[dict[str, Any]] = []
    for index, doc in parts:
        node = answers[index].node_id
        for member in doc["members"]:
            if member["node"] == "local":
                members.append(member if index == 0 else {**member, "node": node})
            elif index == 0 and member["node"] not in answered:
                members.append(member)  # known only from this node's replica
    merged["members"] = members
    merged["nodes"] = node_status(answers)
    return merged


def page_members(document: dict[str, Any] | None, offset: int,
                 limit: int | None) -> dict[str, Any] | None:
    """Cut a channel document's ``members`` to ``limit`` from ``offset`` (all with ``limit``
    None); ``members_total`` counts them all."""
    if document is None:
        return None
    members = document["members"]
    end = None if limit is None else offset + limit
    return {**document, "members": members[offset:end], "members_total": len(members),
            "offset": offset, "limit": limit}


def merge_connections(answers: list[NodeAnswer], sort: str = "age",
                      limit: int | None = None) -> dict[str, Any]:
    """Every node's connections, each with its ``"node"`` (``"local"`` for this node's),
    ordered by ``sort`` and cut to ``limit`` across the nodes; ``total`` counts them all."""
    connections: list[dict[str, Any]] = []
    total = 0
    for index, answer in enumerate(answers):
        document = answer.document or {}
        total += document.get("total", 0)
        for connection in document.get("connections", ()):
            connections.append(connection if index == 0
                               else {**connection, "node": answer.node_id})
    return {"connections": sort_connections(connections, sort, limit), "total": total,
            "nodes": node_status(answers)}


__all__ = ["NodeAnswer", "merge_channel", "merge_channels", "merge_connections", "page_members",
           "merge_endpoints", "merge_overview", "node_status"]
