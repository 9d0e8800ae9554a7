"""Protocol extensions: what a client may ask for beyond the upstream protocol.

A client that wants more than the upstream protocol (this project's SDK does) names the
extensions it understands in the ``pond_ext`` query parameter of its connection URL, e.g.
``?pond_ext=presence-diff,history``. The server grants those it implements and says which in
the ``CONNECT`` frame; a client that asked for nothing (the upstream clients) gets exactly the
upstream protocol. docs/protocol.md#extensions describes the negotiation and every extension's
frames.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping

#: The query parameter that carries the requested extension names, comma-separated.
EXTENSIONS_PARAM = "pond_ext"

#: Presence as a full state once, then joins and leaves only (docs/protocol.md).
PRESENCE_DIFF = "presence-diff"
#: Offsets on broadcasts in channels with history, and recovery on rejoin.
HISTORY = "history"

#: The extensions this server implements: what it grants when asked.
SUPPORTED: frozenset[str] = frozenset({HISTORY, PRESENCE_DIFF})

# A request names at most this many extensions, each at most this long: anything beyond is
# ignored (the names are matched against SUPPORTED, never echoed).
_MAX_NAMES = 16
_MAX_NAME_LENGTH = 64


def requested_extensions(query: MutableMapping[str, str]) -> frozenset[str]:
    """Remove :data:`EXTENSIONS_PARAM` from ``query`` and return the names it listed.

    The parameter is taken out so that connection handlers see the query the application
    sent, whichever client sent it.
    """
    raw = query.pop(EXTENSIONS_PARAM, "")
    names = (name.strip() for name in raw.split(",")[:_MAX_NAMES])
    return frozenset(name for name in names if name and len(name) <= _MAX_NAME_LENGTH)


def grant(requested: Iterable[str]) -> frozenset[str]:
    """The subset of ``requested`` that this server implements."""
    return SUPPORTED.intersection(requested)


__all__ = ["EXTENSIONS_PARAM", "HISTORY", "PRESENCE_DIFF", "SUPPORTED", "grant",
           "requested_extensions"]
