"""The admin plug-in: the documents, rates, Prometheus text, event stream and cluster-wide
queries behind the admin HTTP API (served by :mod:`pondsocket.asgi.admin`).

* :mod:`.options`: :class:`AdminOptions`;
* :mod:`.documents`: :class:`AdminInspector`, one node's documents and actions, from the
  server's read-only :class:`~pondsocket.view.ServerView`;
* :mod:`.rates`, :mod:`.metrics`: per-second rates and the Prometheus text format;
* :mod:`.events`: each server's event bus (a :class:`~pondsocket.PondListener`);
* :mod:`.cluster`, :mod:`.merge`: asking every node of a cluster and merging the answers;
* :mod:`.paging`: a page of a channel's members, each node sending only its part.
"""

from .documents import CONNECTION_SORTS, AdminInspector, inspector_of, sort_connections
from .metrics import metrics_text
from .options import AdminOptions
from .rates import NODE_RATE_KEYS, RATE_KEYS, RateMeter

__all__ = ["CONNECTION_SORTS", "NODE_RATE_KEYS", "RATE_KEYS", "AdminInspector", "AdminOptions",
           "RateMeter", "inspector_of", "metrics_text", "sort_connections"]
