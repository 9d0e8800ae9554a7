"""What every client command shares: connection options, the client, running a command
and turning its failure into a message and an exit code."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import click
from rich.text import Text

from pondsocket_tools.client import ClientOptions, PondClient

from . import exitcodes
from .config import TRANSPORTS, ConfigError, Settings, parse_json_object, resolve
from .output import stderr_console
from .pipes import silence_stdout


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--url --token --param --transport --timeout --config --header --cookie --cacert
    --insecure``."""
    options = [
        click.option("-u", "--url", envvar="PONDCTL_URL", show_envvar=True, metavar="URL",
                     help="Endpoint URL: ws://, wss://, http:// or https://. "
                          "[default: ws://127.0.0.1:8765/api/socket, the demo]"),
        click.option("-t", "--token", envvar="PONDCTL_TOKEN", show_envvar=True,
                     help="Sent as the 'token' query parameter. "
                          "[default: demo, when the URL is the default]"),
        click.option("-p", "--param", "params", multiple=True, metavar="KEY=VALUE",
                     help="Extra query parameter of the connection (repeatable), "
                          "e.g. -p name=ada."),
        click.option("--transport", type=click.Choice(TRANSPORTS), envvar="PONDCTL_TRANSPORT",
                     show_envvar=True,
                     help="WebSocket, or Server-Sent Events + HTTP POST. [default: websocket]"),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True),
                     envvar="PONDCTL_TIMEOUT", show_envvar=True, metavar="SECONDS",
                     help="Limit for connecting, joining and each reply. [default: 10]"),
        click.option("--config", "config", type=click.Path(dir_okay=False),
                     envvar="PONDCTL_CONFIG", show_envvar=True, metavar="PATH",
                     help="TOML config file. [default: ~/.config/pondctl/config.toml]"),
        click.option("-H", "--header", "headers", multiple=True, metavar="'NAME: VALUE'",
                     help="Extra HTTP header of the handshake (repeatable), "
                          "e.g. -H 'Authorization: Bearer TOKEN'."),
        click.option("--cookie", "cookies", multiple=True, metavar="NAME=VALUE",
                     help="Cookie sent with the handshake (repeatable; 'a=1; b=2' sends "
                          "two)."),
        click.option("--cacert", type=click.Path(exists=True, dir_okay=False), metavar="FILE",
                     help="For wss:// and https://: trust the CA certificate(s) in this PEM "
                          "file (a private CA or a self-signed server)."),
        click.option("-k", "--insecure", is_flag=True,
                     help="For wss:// and https://: do not verify the server's certificate "
                          "(testing only)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def channel_problem(name: str) -> str | None:
    """Why ``name`` cannot be a channel name, with a hint (``None`` when it can be one)."""
    if not name:
        return "the channel name is empty (channel names are paths such as /chat/1)"
    if not name.startswith("/"):
        return f"{name!r} does not start with '/' (channel names are paths: try '/{name}')"
    return None


def _check_channel(ctx: click.Context, param: click.Parameter, value: str) -> str:
    problem = channel_problem(value)
    if problem:
        raise click.BadParameter(problem, ctx=ctx, param=param)
    return value


def channel_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    """The ``CHANNEL`` argument: refused (exit code 2) unless it starts with ``/``."""
    return click.argument("channel", callback=_check_channel)(func)


def join_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--join-param``."""
    return click.option(
        "-j", "--join-param", "join_params", multiple=True, metavar="KEY=VALUE|KEY:=JSON",
        help="Join payload entry (repeatable): -j name=ada (a string) or -j age:=42 "
             "(any JSON value).")(func)


def settings_from(options: dict[str, Any]) -> Settings:
    """Resolve the connection options; a bad one is a usage error (exit code 2)."""
    try:
        return resolve(url=options.get("url"), token=options.get("token"),
                       params=options.get("params", ()), transport=options.get("transport"),
                       timeout=options.get("timeout"),
                       join_params=options.get("join_params", ()),
                       config=options.get("config"), headers=options.get("headers", ()),
                       cookies=options.get("cookies", ()), cacert=options.get("cacert"),
                       insecure=bool(options.get("insecure")))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def json_argument(text: str, param: str = "JSON") -> dict[str, Any]:
    """A JSON object argument; ``-`` reads it from standard input."""
    if text == "-":
        text = sys.stdin.read()
    try:
        return parse_json_object(text.strip() or "{}")
    except ConfigError as exc:
        hint = "; quote it for the shell, e.g. '{\"text\": \"hi\"}'"
        raise click.BadParameter(str(exc) + hint, param_hint=param) from None


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS settings of ``--cacert`` and ``--insecure`` (``None``: the system's CAs)."""
    if settings.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if settings.cacert:
        try:
            return ssl.create_default_context(cafile=settings.cacert)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise click.BadParameter(f"{settings.cacert}: not a PEM certificate file ({exc})",
                                     param_hint="--cacert") from None
    return None


def make_client(settings: Settings, *, reconnect: bool) -> PondClient:
    options = ClientOptions(
        connect_timeout=settings.timeout, join_timeout=settings.timeout,
        request_timeout=settings.timeout, leave_timeout=min(settings.timeout, 5.0),
        reconnect=reconnect, headers=dict(settings.headers),
        ssl_context=tls_context(settings))
    try:
        return PondClient(settings.url, settings.params, transport=settings.transport,  # type: ignore[arg-type]
                          options=options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def run(settings: Settings, main: Callable[[], Coroutine[Any, Any, int | None]]) -> None:
    """Run ``main`` and exit with its code, or with the code of the error it raised."""
    err = stderr_console()
    code: int
    try:
        code = asyncio.run(main()) or exitcodes.OK
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader of the output went away (`pondctl listen | head`): stop quietly.
        silence_stdout()
        raise SystemExit(exitcodes.OK) from None
    except KeyboardInterrupt:
        err.print(Text("Interrupted.", style="yellow"))
        code = exitcodes.INTERRUPTED
    except (click.ClickException, click.exceptions.Exit, click.Abort):
        raise
    except Exception as exc:
        code, message, hint = exitcodes.describe(exc, demo=settings.uses_default_url,
                                                 token_sent="token" in settings.params)
        err.print(Text("Error: ", style="bold red") + Text(message))
        if hint:
            err.print(Text(f"Hint: {hint}", style="dim"))
    raise SystemExit(code)

