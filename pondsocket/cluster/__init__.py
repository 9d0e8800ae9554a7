"""The cluster plug-in: several PondSocket processes serving the same channels over a
:class:`~pondsocket.PubSub` (docs/cluster.md).

* :mod:`.node`: :class:`ClusterNode`, one server's membership of the cluster (a
  :class:`~pondsocket.PondListener`: what its channels do is published);
* :mod:`.envelope`: the protocol v1 envelope, its constants and HMAC signatures;
* :mod:`.replication`: applying a peer's change to a channel's replica;
* :mod:`.reorder`: putting a peer's numbered messages back in order after an outage.
"""

from .envelope import ALL_NODES, HEARTBEAT_CHANNEL, PROTOCOL, VERSION
from .node import ClusterNode

__all__ = ["ALL_NODES", "HEARTBEAT_CHANNEL", "PROTOCOL", "VERSION", "ClusterNode"]
