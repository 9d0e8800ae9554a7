"""The benchmark's relay app (``pond_app``) with history on its channels, served by the
direct ``pondsocket.wsserver`` adapter without compression, GC freezer on (as ``pondctl
serve`` runs it): ``python -m benchmarks.servers.history_app PORT``. The window holds 2,000
broadcasts and one recovery may replay 1,000, so the replay row can miss 1,000. With
``REDIS_URL`` (a cluster node) the history is a ``RedisHistoryStore`` in that Redis, its keys
under the run's namespace, so every node shares it."""

from __future__ import annotations

import os

from pondsocket.history import HistoryOptions, HistoryStore, enable_history

from . import pond_app


def _store() -> HistoryStore | None:
    """The shared Redis store on a cluster node, else None (in memory)."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    from redis.asyncio import Redis

    from pondsocket.distributed import RedisHistoryStore

    return RedisHistoryStore(Redis.from_url(url),
                             prefix=f"bench:history:{pond_app.NAMESPACE}")


enable_history(pond_app.lobby, HistoryOptions(size=2000, recovery_limit=1000), store=_store())
pond = pond_app.pond


if __name__ == "__main__":
    import asyncio
    import sys

    import uvloop

    from pondsocket.wsserver import serve

    uvloop.install()
    asyncio.run(serve(pond, "127.0.0.1", int(sys.argv[1]), compression=None, gc_freeze=True))
