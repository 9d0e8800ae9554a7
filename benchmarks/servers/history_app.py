"""The benchmark's relay app (``pond_app``) with history on its channels, served by the
direct ``pondsocket.wsserver`` adapter without compression:
``python -m benchmarks.servers.history_app PORT``. The window holds 2,000 broadcasts and one
recovery may replay 1,000, so the replay row can miss 1,000."""

from __future__ import annotations

from pondsocket.history import HistoryOptions, enable_history

from . import pond_app

enable_history(pond_app.lobby, HistoryOptions(size=2000, recovery_limit=1000))
pond = pond_app.pond


if __name__ == "__main__":
    import asyncio
    import sys

    import uvloop

    from pondsocket.wsserver import serve

    uvloop.install()
    asyncio.run(serve(pond, "127.0.0.1", int(sys.argv[1]), compression=None))
