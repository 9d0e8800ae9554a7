"""``pondctl``: serve, run the demo, and talk to PondSocket servers (the client commands are
in :mod:`pondsocket_tools.cli_client`)."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.console import Console
from rich.panel import Panel

from .cli_client.pipes import silence_stdout
from .serve import (
    GC_FREEZE,
    TargetError,
    admin_options,
    as_asgi,
    attach_redis,
    child_settings,
    direct_pond,
    load_object,
    run,
    run_direct,
    run_workers,
)
from .serve_options import serving_options, serving_settings

console = Console(stderr=True)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


class PondctlGroup(click.Group):
    """The ``pondctl`` group: a closed output pipe (``pondctl ... | head``) ends any command
    quietly with status 0, as Unix tools do (click alone would exit with 1)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            silence_stdout()
            ctx.exit(0)


@click.group(cls=PondctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pondsocket", prog_name="pondctl")
def main() -> None:
    """PondSocket toolkit: serve apps, run the demo, talk to servers."""


@main.command()
@click.argument("target")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind (0 for any free port).")
@click.option("--reload", is_flag=True, help="Restart when Python files change (development).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--server", type=click.Choice(["uvicorn", "websockets"]), default="uvicorn",
              show_default=True,
              help="uvicorn: the ASGI adapter (WebSocket, SSE, admin API). websockets: "
                   "pondsocket.wsserver, WebSocket only, for a PondSocket TARGET.")
@click.option("--redis", "redis_url", metavar="URL", envvar="PONDSOCKET_REDIS_URL",
              help="Make the PondSocket TARGET a cluster node over this Redis (e.g. "
                   "redis://127.0.0.1:6379): servers sharing it share channels.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="Worker processes sharing the port (uvicorn only; more than 1 needs "
                   "--redis, so that they share channels).")
@click.option("--admin-token", metavar="TOKEN", envvar="PONDSOCKET_ADMIN_TOKEN",
              help="Serve the admin API of the PondSocket TARGET with this bearer token "
                   "(uvicorn: under /_pond/admin; websockets: on --admin-port).")
@click.option("--admin-writes", is_flag=True,
              help="Also enable the admin write actions (evict a user, close a channel).")
@click.option("--admin-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="With --server websockets: the admin API's port (default: --port + 1; "
                   "0 for any free port).")
@serving_options
def serve(target: str, host: str, port: int, reload: bool, log_level: str, server: str,
          redis_url: str | None, workers: int, admin_token: str | None, admin_writes: bool,
          admin_port: int | None, **serving: Any) -> None:
    """Serve TARGET, a PondSocket or ASGI app given as MODULE:ATTRIBUTE.

    \b
    Examples:
      pondctl serve app:pond               # app.py defines pond = PondSocket()
      pondctl serve app:app --port 9000    # any ASGI app, e.g. PondASGIApp(pond)
      pondctl serve app:pond --reload
      pondctl serve app:pond --server websockets   # the direct server, WebSocket only
      pondctl serve app:pond --workers 4 --redis redis://127.0.0.1:6379
      pondctl serve app:pond --server websockets --admin-token s3cret  # admin on 8001
    """
    import uvicorn

    _check_workers(workers, redis_url, server, reload)
    if admin_writes and not admin_token:
        raise click.UsageError("--admin-writes needs --admin-token")
    admin = admin_options(admin_token, admin_writes)
    if server == "websockets":
        if admin_port is None:
            admin_port = port + 1 if port else 0
        _serve_direct(target, host, port, reload, log_level, redis_url, admin, admin_port,
                      **serving)
        return
    if admin_port is not None:
        raise click.UsageError("--admin-port needs --server websockets (uvicorn serves the "
                               "admin API on its own port, under /_pond/admin)")
    try:
        obj = load_object(target)
        if redis_url:  # with --workers or --reload, checked here and done again in each child
            attach_redis(obj, target, redis_url)
        app = as_asgi(obj, admin)
    except TargetError as err:
        raise click.BadParameter(str(err), param_hint="TARGET") from None
    except ImportError:
        raise click.UsageError(
            '--redis needs the redis extra: pip install "pondsocket[redis]"') from None
    settings = serving_settings(app, host, port, log_level, **serving)
    if reload:
        # uvicorn re-imports the target in a child process on every change (a development
        # server: no GC freezer).
        settings[GC_FREEZE] = False
        uvicorn.run("pondsocket_tools.serve:_child_app", factory=True, reload=True,
                    reload_dirs=["."], **child_settings(settings, target, redis_url, admin))
        return
    if workers > 1:
        run_workers(workers, child_settings(settings, target, redis_url, admin))
        return
    run(app, **settings)


def _check_workers(workers: int, redis_url: str | None, server: str, reload: bool) -> None:
    """Refuse a ``--workers`` that could not work, saying why."""
    if workers == 1:
        return
    if server == "websockets":
        raise click.UsageError(
            "--workers needs --server uvicorn: the direct server is one process; run one "
            "per port with the same --redis, behind a load balancer (docs/deployment.md)")
    if reload:
        raise click.UsageError("--workers and --reload cannot be combined")
    if not redis_url:
        raise click.UsageError(
            f"--workers {workers} needs --redis URL: each worker is a process of its own, "
            "and without a pub/sub between them clients on different workers would not "
            "share channels")



def _serve_direct(target: str, host: str, port: int, reload: bool, log_level: str,
                  redis_url: str | None, admin: Any, admin_port: int, *,
                  handshake_timeout: float, max_head_line: int,
                  max_headers: int, ws_per_message_deflate: bool,
                  redact_params: tuple[str, ...], gc_freeze: bool) -> None:
    """``pondctl serve --server websockets``: the direct server, for a PondSocket."""
    import logging

    from pondsocket.asgi.uvicorn import HandshakeLimits

    defaults = HandshakeLimits()
    if reload:
        raise click.UsageError("--reload needs --server uvicorn")
    if (max_head_line, max_headers) != (defaults.max_line, defaults.max_headers):
        raise click.UsageError("--max-head-line and --max-headers need --server uvicorn (the "
                               "websockets server's limits are fixed: 8192 bytes, 128 headers)")
    try:
        pond = direct_pond(load_object(target), target)
        if redis_url:
            attach_redis(pond, target, redis_url)
    except TargetError as err:
        raise click.BadParameter(str(err), param_hint="TARGET") from None
    except ImportError:
        raise click.UsageError(
            '--redis needs the redis extra: pip install "pondsocket[redis]"') from None
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s: %(message)s")
    run_direct(pond, host, port, handshake_timeout=handshake_timeout,
               per_message_deflate=ws_per_message_deflate, admin=admin,
               admin_port=admin_port, gc_freeze=gc_freeze)

@main.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to bind.")
@click.option("--port", default=DEFAULT_PORT, show_default=True,
              type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--redis", "redis_url", metavar="URL", envvar="PONDSOCKET_REDIS_URL",
              help="Run as a cluster node over this Redis (e.g. redis://127.0.0.1:6379); "
                   "demos on other ports with the same Redis share the rooms.")
@click.option("--admin-token", metavar="TOKEN", envvar="PONDSOCKET_ADMIN_TOKEN",
              help="Serve the admin API under /_pond/admin with this bearer token "
                   "(read it with: pondctl inspect --token TOKEN).")
@click.option("--namespace", metavar="NAME", envvar="PONDSOCKET_NAMESPACE", default="demo",
              show_default=True,
              help="With --redis: the cluster namespace; nodes share rooms only within one, "
                   "so other apps on the same Redis stay apart.")
@click.option("--admin-writes", is_flag=True,
              help="Also enable the admin write actions (evict a user, close a channel).")
@serving_options
def demo(host: str, port: int, log_level: str, redis_url: str | None,
         admin_token: str | None, namespace: str, admin_writes: bool,
         **serving: Any) -> None:
    """Run the built-in chat demo (token auth, /chat/:room with presence).

    \b
    Then, in another terminal:
      pondctl join /chat/lobby
    \b
    Two nodes sharing rooms through Redis:
      pondctl demo --port 8765 --redis redis://127.0.0.1:6379
      pondctl demo --port 8766 --redis redis://127.0.0.1:6379
    """
    from .demo import ENDPOINT, create_app

    if admin_writes and not admin_token:
        raise click.UsageError("--admin-writes needs --admin-token")
    try:
        app = create_app(redis_url, admin_token, admin_writes, namespace)
    except ImportError:
        raise click.UsageError(
            '--redis needs the redis extra: pip install "pondsocket[redis]"') from None
    cluster = (f"\nCluster:   node of [cyan]{redis_url}[/], namespace [cyan]{namespace}[/]"
               if redis_url else "")
    url = f"ws://{host}:{port}{ENDPOINT}"
    if admin_token:
        cluster += (f"\nAdmin:     [cyan]http://{host}:{port}/_pond/admin[/] "
                    "(bearer token; inspect with [cyan]pondctl inspect --token ...[/])"
                    + (", write actions on" if admin_writes else ""))
    console.print(Panel.fit(
        f"[bold green]PondSocket demo[/] listening on [bold]{url}[/]\n\n"
        f"Connect:   [cyan]{url}?token=demo&name=ada[/]  (moderator: token=demo-mod)\n"
        "Channels:  [cyan]/chat/:room[/] (presence: name, status, role)\n"
        "Events:    [cyan]message[/] {text}, [cyan]ping[/] (replies pong), "
        "[cyan]status[/] {status}, [cyan]kick[/] {name} (moderators)\n"
        f"SSE:       GET http://{host}:{port}{ENDPOINT}?token=demo "
        f"with Accept: text/event-stream{cluster}\n\n"
        "Press Ctrl+C to stop.", title="pondctl demo", border_style="green"))
    run(app, **serving_settings(app, host, port, log_level, **serving))


# The client commands: connect, join, send, request, presence, listen.
from .cli_client import register as _register_client_commands  # noqa: E402

_register_client_commands(main)

# The inspector TUI over the admin API: pondctl inspect.
from .inspector.command import inspect as _inspect  # noqa: E402

main.add_command(_inspect)

# A channel's stored broadcasts over the admin API: pondctl history.
from .cli_history import history as _history  # noqa: E402

main.add_command(_history)

# Load testing with Locust (run in a subprocess): pondctl load.
from .cli_load import register as _register_load_command  # noqa: E402

_register_load_command(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
