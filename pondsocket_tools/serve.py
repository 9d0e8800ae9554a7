"""Loading an app from ``module:attribute`` and serving it with uvicorn."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any

import uvicorn

from pondsocket import AdminOptions, PondSocket
from pondsocket.asgi.redact import redacting_log_config
from pondsocket.asgi.uvicorn import HandshakeLimits, PondWebSocketProtocol, http_protocol
from pondsocket.gcfreeze import GCFreezer

# What a child process (a --reload restart, a --workers worker) serves: pondctl's parent sets
# them, the child's factory reads them.
ENV_TARGET = "PONDCTL_SERVE_TARGET"
ENV_REDIS = "PONDCTL_SERVE_REDIS"
ENV_ADMIN_TOKEN = "PONDCTL_SERVE_ADMIN_TOKEN"
ENV_ADMIN_WRITES = "PONDCTL_SERVE_ADMIN_WRITES"
ENV_GC_FREEZE = "PONDCTL_SERVE_GC_FREEZE"
#: The settings key of ``--gc-freeze`` (pondctl's, not uvicorn's: :func:`run` and
#: :func:`child_settings` take it out).
GC_FREEZE = "gc_freeze"


class TargetError(Exception):
    """A ``module:attribute`` that cannot be served."""


def load_target(target: str) -> Any:
    """Import ``module:attribute`` and return an ASGI app (a ``PondSocket`` gets wrapped)."""
    return as_asgi(load_object(target))


def load_object(target: str) -> Any:
    """Import ``module:attribute`` and return the object it names."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise TargetError(f"expected MODULE:ATTRIBUTE (for example app:pond), got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise TargetError(f"cannot import module {module_name!r} (run from the directory "
                              "that contains it)") from None
        raise
    obj: Any = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise TargetError(f"module {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def as_asgi(obj: Any, admin: AdminOptions | None = None) -> Any:
    """``obj`` as an ASGI app: a PondSocket wrapped in a PondASGIApp (with the health check
    at ``/healthz``, as the direct server has it, and the admin API with ``admin``), any
    callable as is (``admin`` refused: the app configures its own)."""
    if isinstance(obj, PondSocket):
        from pondsocket.asgi import PondASGIApp

        return PondASGIApp(obj, admin=admin, health_path="/healthz")
    if admin is not None:
        raise TargetError(f"--admin-token serves a PondSocket's admin API, and the target is "
                          f"a {type(obj).__name__}: pass AdminOptions to its PondASGIApp "
                          "instead (docs/admin.md)")
    if callable(obj):
        return obj
    raise TargetError(f"{type(obj).__name__} is neither a PondSocket nor an ASGI app")


def admin_options(token: str | None, writes: bool) -> AdminOptions | None:
    """The admin API's options for ``--admin-token`` / ``--admin-writes`` (None: off)."""
    return AdminOptions(token=token, allow_writes=writes) if token else None


def find_pond(app: Any) -> PondSocket | None:
    """The :class:`PondSocket` an app serves (a :class:`~pondsocket.asgi.PondASGIApp`, or
    one wrapped by uvicorn's middleware)."""
    while app is not None:
        pond = getattr(app, "pond", None)
        if isinstance(pond, PondSocket):
            return pond
        app = getattr(app, "app", None)
    return None


def attach_redis(obj: Any, target: str, redis_url: str) -> PondSocket:
    """Make the PondSocket ``obj`` a cluster node over the Redis at ``redis_url`` (a
    :class:`~pondsocket.distributed.RedisPubSub`); :class:`TargetError` when ``obj`` is not
    a PondSocket or already has a pub/sub. ``ImportError`` without the redis extra."""
    if not isinstance(obj, PondSocket):
        raise TargetError(f"--redis gives a PondSocket a pub/sub, and {target} is a "
                          f"{type(obj).__name__}: name the PondSocket itself, or give it "
                          "a pubsub in code (docs/cluster.md)")
    if obj.pubsub is not None:
        raise TargetError(f"{target} already has a pub/sub: drop --redis")
    from redis.asyncio import Redis

    from pondsocket.distributed import RedisPubSub

    obj.use_pubsub(RedisPubSub(Redis.from_url(redis_url), owns_client=True))
    return obj


class PondServer(uvicorn.Server):
    """A ``uvicorn.Server`` that closes the served PondSocket's connections cleanly when it
    shuts down.

    uvicorn sends the ASGI ``lifespan.shutdown`` event only after every connection has ended:
    it cuts WebSockets itself (code 1012) and waits for SSE streams, which never end on their
    own, until ``timeout_graceful_shutdown`` (for ever by default). This server closes the
    PondSocket first (channels evict their members, WebSocket clients get 1001, SSE streams
    end), then shuts down as usual. With ``gc_freeze`` it runs a
    :class:`~pondsocket.gcfreeze.GCFreezer` while it serves.
    """

    def __init__(self, config: uvicorn.Config, *, gc_freeze: bool = False) -> None:
        super().__init__(config)
        self.gc_freeze = gc_freeze
        self._freezer: GCFreezer | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.gc_freeze and self.started:
            self._freezer = GCFreezer()
            self._freezer.start()

    async def shutdown(self, sockets: Any = None) -> None:
        pond = find_pond(getattr(self.config, "loaded_app", None))
        if pond is not None:
            try:
                await pond.close()
            except Exception:
                logging.getLogger("pondsocket.tools").exception("error while closing")
        await super().shutdown(sockets)
        if self._freezer is not None:
            self._freezer.stop()
            self._freezer = None


def create_server(app: Any, *, gc_freeze: bool = False, **settings: Any) -> PondServer:
    """A :class:`PondServer` for ``app`` (``settings`` as for ``uvicorn.Config``)."""
    return PondServer(uvicorn.Config(app, **settings), gc_freeze=gc_freeze)


def run(app: Any, **settings: Any) -> None:
    """Serve ``app`` until interrupted (like ``uvicorn.run``, with :func:`create_server`;
    ``gc_freeze`` as for :class:`PondServer`)."""
    server = create_server(app, **settings)
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises a captured SIGINT
        server.run()
    if not server.started:
        sys.exit(3)  # uvicorn's exit status for a failed start-up


def direct_pond(obj: Any, target: str) -> PondSocket:
    """The PondSocket the direct server serves, or :class:`TargetError` saying why not."""
    if isinstance(obj, PondSocket):
        return obj
    raise TargetError(f"--server websockets serves a PondSocket directly, and {target} is a "
                      f"{type(obj).__name__}; it serves WebSocket only (SSE needs the ASGI "
                      "server: --server uvicorn; the admin API comes with --admin-token)")


def run_direct(pond: PondSocket, host: str, port: int, *, handshake_timeout: float,
               per_message_deflate: bool, admin: AdminOptions | None = None,
               admin_port: int = 0, gc_freeze: bool = False) -> None:
    """Serve ``pond`` with :mod:`pondsocket.wsserver` until Ctrl+C or SIGTERM (the pond is
    closed first, as with uvicorn); exit status 3 when it cannot start.
    ``per_message_deflate`` offers compress-once (one compressed frame per broadcast).
    With ``admin``, the admin API and the health check are also served on ``admin_port``
    (:mod:`pondsocket_tools.serve_admin`). ``gc_freeze``: as for
    :func:`~pondsocket.wsserver.serve`."""
    import asyncio
    import signal

    from pondsocket.wsserver import serve

    from .serve_admin import start_admin_server

    log = logging.getLogger("pondsocket.tools")

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        ready: asyncio.Future[Any] = loop.create_future()
        admin_server = None
        serving = asyncio.ensure_future(serve(
            pond, host, port, ready=ready, health_path="/healthz",
            open_timeout=handshake_timeout, gc_freeze=gc_freeze,
            compression="compress-once" if per_message_deflate else None))
        try:
            await asyncio.wait({ready, serving}, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():
                serving.result()  # raises why it could not start
            bound = ready.result().sockets[0].getsockname()
            log.info("serving ws://%s:%d (websockets)", bound[0], bound[1])
            if admin is not None:
                admin_server = await start_admin_server(
                    pond, admin, host, admin_port, handshake_timeout=handshake_timeout)
                log.info("admin API on http://%s:%d%s", host, admin_server.port,
                         admin.prefix)
            await serving
        except asyncio.CancelledError:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving  # closes the pond: the admin event streams end too
        finally:
            if admin_server is not None:
                await admin_server.stop()

    try:
        asyncio.run(main())
    except OSError as err:
        log.error("cannot start: %s", err)
        sys.exit(3)


def uvicorn_settings(app: Any, host: str, port: int, log_level: str, *,
                     limits: HandshakeLimits | None = None,
                     per_message_deflate: bool = False) -> dict[str, Any]:
    """uvicorn settings matched to the app's limits, with bounded request heads (``limits``,
    default :class:`~pondsocket.asgi.uvicorn.HandshakeLimits`) and no permessage-deflate
    unless ``per_message_deflate``."""
    pond = find_pond(app)
    max_size = pond.options.max_message_size if pond is not None else 1 << 20
    # Frames up to 4x the limit get a clear 413 error frame; beyond that uvicorn closes (1009).
    return {"host": host, "port": port, "log_level": log_level, "ws_max_size": max_size * 4,
            "lifespan": "on",
            # Heads bounded in time and size, HTTP/1.0 upgrades refused (pondsocket.asgi.uvicorn).
            "http": http_protocol(limits or HandshakeLimits()),
            "ws": PondWebSocketProtocol,
            # Off: uvicorn would compress every frame again for every recipient.
            "ws_per_message_deflate": per_message_deflate}


def log_config(redact_params: Iterable[str] = ()) -> dict[str, Any]:
    """uvicorn's logging configuration, with credentials in query strings redacted: the
    :data:`~pondsocket.asgi.redact.DEFAULT_REDACTED_PARAMS` and ``redact_params``
    (``ValueError`` for a name that cannot be one)."""
    return redacting_log_config(redact_params)


def reload_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` for a ``--reload`` run: uvicorn starts its worker in a new process, so
    the protocol classes go as import paths and their limits through the environment."""
    limits = getattr(settings["http"], "limits", None) or HandshakeLimits()
    os.environ.update(limits.to_env())
    return {**settings, "http": "pondsocket.asgi.uvicorn:PondHTTPProtocol",
            "ws": "pondsocket.asgi.uvicorn:PondWebSocketProtocol"}


def child_settings(settings: dict[str, Any], target: str, redis_url: str | None,
                   admin: AdminOptions | None = None) -> dict[str, Any]:
    """``settings`` for a server whose app is loaded in child processes (``--reload``,
    ``--workers``): the app is :func:`_child_app`, which loads ``target`` (and attaches
    ``redis_url``, serves ``admin``, runs a GC freezer for ``gc_freeze``) there, told through
    the environment."""
    settings = dict(settings)
    gc_freeze = settings.pop(GC_FREEZE, False)
    for name, value in ((ENV_TARGET, target), (ENV_REDIS, redis_url),
                        (ENV_ADMIN_TOKEN, admin.token if admin else None),
                        (ENV_ADMIN_WRITES, "1" if admin and admin.allow_writes else None),
                        (ENV_GC_FREEZE, "1" if gc_freeze else None)):
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    return reload_settings(settings)


#: Seconds a worker waits for open SSE streams when it stops (they never end on their own).
WORKER_GRACEFUL_SHUTDOWN = 5.0


def run_workers(workers: int, settings: dict[str, Any]) -> None:
    """Serve with ``workers`` uvicorn worker processes sharing one listening socket (uvicorn's
    supervisor restarts a worker that dies, and stops them all on Ctrl+C or SIGTERM); exit
    status 3 when the socket cannot be bound. ``settings`` from :func:`child_settings`.

    Each worker runs uvicorn's own server (its supervisor offers no other): on shutdown
    uvicorn closes WebSockets itself (code 1012, service restart), waits at most
    :data:`WORKER_GRACEFUL_SHUTDOWN` seconds for SSE streams, then the app's lifespan
    shutdown closes the PondSocket (its cluster node leaves at once)."""
    settings = {"timeout_graceful_shutdown": WORKER_GRACEFUL_SHUTDOWN, **settings}
    try:  # uvicorn.run binds the socket and runs its supervisor (whatever uvicorn's version)
        uvicorn.run("pondsocket_tools.serve:_child_app", factory=True, workers=workers,
                    **settings)
    except SystemExit as stop:
        # it logs why and exits 1 when the port cannot be bound: pondctl's status for that is 3
        sys.exit(3 if stop.code == 1 else stop.code)


def _child_app() -> Any:
    """Factory used by ``pondctl serve --reload`` and ``--workers`` in uvicorn's child
    processes: the target, made a cluster node when ``--redis`` was given."""
    target = os.environ[ENV_TARGET]
    obj = load_object(target)
    redis_url = os.environ.get(ENV_REDIS)
    if redis_url:
        attach_redis(obj, target, redis_url)
    if os.environ.get(ENV_GC_FREEZE) == "1":
        # uvicorn loads the app in the worker's running loop; the worker runs until it exits
        GCFreezer().start()
    return as_asgi(obj, admin_options(os.environ.get(ENV_ADMIN_TOKEN),
                                      os.environ.get(ENV_ADMIN_WRITES) == "1"))
