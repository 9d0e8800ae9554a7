"""A page of a channel's members across a cluster, without shipping every member.

The cluster-wide order is the asked node's members first, then each other node's, by node
id; within a node, join order. From the member counts the asked node already knows (its
own, and its channel replica's count of each peer's members) it works out which slice of
its own members each node holds of the page, and asks every node for its slice only: a
page of 200 from a 5,000-member channel ships at most 200 members in all. Each node answers
with its slice and its own count; when a count differs from the one assumed (the replica
lagging, or a node the replica does not know), the slices are worked out again from the
answered counts and asked once more. A node that does not answer is shown as the asked
node's replica knows it, in its place in the order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .documents import AdminInspector
from .merge import NodeAnswer, merge_channel

#: Asks every node the ``channel`` query with these arguments; this node's answer first.
Ask = Callable[[dict[str, Any]], Awaitable[list[NodeAnswer]]]

ROUNDS = 2  # the second only when the counts assumed for the first were wrong


def member_slices(counts: list[tuple[str, int]], offset: int,
                  limit: int | None) -> dict[str, list[int]]:
    """Each node's ``[start, stop]`` (the ``slices`` argument of the ``channel`` query, read
    by :func:`~.cluster.own_slice`) of the page ``offset`` .. ``offset + limit`` (to the
    end without ``limit``) of the members of ``counts`` (node, members), in that order."""
    end = None if limit is None else offset + limit
    out: dict[str, list[int]] = {}
    first = 0
    for node, count in counts:
        start = min(max(offset - first, 0), count)
        stop = count if end is None else min(max(end - first, 0), count)
        out[node] = [start, stop]
        first += count
    return out


def _order(me: str, nodes: Any) -> list[str]:
    return [me, *sorted(set(nodes) - {me})]


def _answered_counts(answers: list[NodeAnswer]) -> dict[str, int]:
    return {a.node_id: (a.document or {}).get("member_count", 0) for a in answers if a.ok}


async def page_channel(ask: Ask, inspector: AdminInspector, args: dict[str, Any],
                       offset: int, limit: int | None) -> dict[str, Any] | None:
    """Channel ``args["name"]`` (on ``args.get("endpoint")``) with the page ``offset`` ..
    ``offset + limit`` of its members across the cluster, ``members_total`` counting them
    all; None when no node has the channel."""
    name, endpoint = str(args["name"]), args.get("endpoint")
    me = inspector.view.node_id
    known = inspector.view.member_counts(name, endpoint) or {}
    counts = dict(known)
    for _ in range(ROUNDS):
        slices = member_slices([(n, counts.get(n, 0)) for n in _order(me, counts)],
                               offset, limit)
        answers = await ask({**args, "slices": slices})
        answered = _answered_counts(answers)
        found = {**{n: c for n, c in known.items() if n not in answered}, **answered}
        if {n: c for n, c in found.items() if c} == {n: c for n, c in counts.items() if c}:
            break
        counts = found
    merged = merge_channel(answers)
    if merged is None:
        return None
    merged.pop("members_from", None)  # a node's part: not the page's
    missing = [n for n in _order(me, set(counts) | {a.node_id for a in answers})
               if n not in answered and counts.get(n)]
    replica = inspector.replica_members(name, endpoint, missing,
                                        expose_assigns=bool(args.get("expose_assigns")))
    return {**merged, **_page(answers, found, slices, replica, me), "offset": offset,
            "limit": limit}


def _page(answers: list[NodeAnswer], counts: Mapping[str, int],
          slices: Mapping[str, list[int]], replica: Mapping[str, list[dict[str, Any]]],
          me: str) -> dict[str, Any]:
    """The page's members in the cluster-wide order, and ``members_total``."""
    docs = {a.node_id: a.document for a in answers if a.ok and a.document}
    members: list[dict[str, Any]] = []
    for node in _order(me, set(counts) | set(docs)):
        start, stop = slices.get(node, (0, 0))
        doc = docs.get(node)
        if doc is None:  # not answered: the replica's members, sliced here
            members += replica.get(node, [])[start:stop]
            continue
        own = [m if node == me else {**m, "node": node}
               for m in doc["members"] if m["node"] == "local"]
        # a node of an older version sends every member: its slice is cut here
        members += own if "members_from" in doc else own[start:stop]
    return {"members": members, "members_total": sum(counts.values())}


__all__ = ["member_slices", "page_channel"]
