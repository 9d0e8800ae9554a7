"""The hardening options ``pondctl serve`` and ``pondctl demo`` share (request-head bounds,
permessage-deflate, log redaction), and the uvicorn settings they make."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from pondsocket.asgi.uvicorn import HandshakeLimits

from .serve import GC_FREEZE, log_config, uvicorn_settings

_DEFAULTS = HandshakeLimits()


def serving_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options to a click command (pass what it receives to :func:`serving_settings`)."""
    options = [
        click.option("--handshake-timeout", type=click.FloatRange(0, min_open=True),
                     default=_DEFAULTS.handshake_timeout, show_default=True, metavar="SECONDS",
                     help="Drop a connection whose request head is not complete in time."),
        click.option("--max-head-line", type=click.IntRange(256), default=_DEFAULTS.max_line,
                     show_default=True, metavar="BYTES",
                     help="Longest request line (longer: 414) and header line (431)."),
        click.option("--max-headers", type=click.IntRange(1), default=_DEFAULTS.max_headers,
                     show_default=True, metavar="N",
                     help="Most header lines in a request (more: 431)."),
        click.option("--ws-per-message-deflate/--no-ws-per-message-deflate", default=False,
                     show_default=True,
                     help="Offer WebSocket compression (costs CPU per frame and recipient)."),
        click.option("--redact-param", "redact_params", multiple=True, metavar="NAME",
                     help="Also hide this query parameter's value in log lines (repeatable; "
                          "token, password, key and other credential names always are)."),
        click.option("--gc-freeze/--no-gc-freeze", default=True, show_default=True,
                     help="Freeze what survives old-generation garbage collections, so that "
                          "collections stay short with thousands of connections "
                          "(docs/big-rooms.md#garbage-collector-pauses)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def serving_settings(app: Any, host: str, port: int, log_level: str, *,
                     handshake_timeout: float, max_head_line: int, max_headers: int,
                     ws_per_message_deflate: bool, redact_params: tuple[str, ...],
                     gc_freeze: bool) -> dict[str, Any]:
    """``uvicorn.Config`` settings for ``app`` from the command's options, and
    :data:`~pondsocket_tools.serve.GC_FREEZE` (taken out by :func:`~pondsocket_tools.serve.run`
    and :func:`~pondsocket_tools.serve.child_settings`)."""
    limits = HandshakeLimits(handshake_timeout=handshake_timeout, max_line=max_head_line,
                             max_headers=max_headers)
    try:
        logging = log_config(redact_params)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--redact-param") from None
    return {**uvicorn_settings(app, host, port, log_level, limits=limits,
                               per_message_deflate=ws_per_message_deflate),
            "log_config": logging, GC_FREEZE: gc_freeze}
