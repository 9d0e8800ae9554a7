"""Exit codes of the client commands, and the message and hint shown for each failure.

==== ==========================================================================
code meaning
==== ==========================================================================
0    success
1    unexpected error
2    usage error: bad option, bad JSON argument, bad config file
3    server unreachable (refused, unknown host, timed out, not a PondSocket server)
4    connection refused by the server (HTTP 4xx on the handshake, e.g. 401)
5    join declined by the server
6    the server answered with an error (an ERROR frame for a send or request)
7    timed out waiting for a join or a reply
8    connection lost, or the channel ended (evicted, closed by the server)
130  interrupted (Ctrl+C)
==== ==========================================================================
"""

from __future__ import annotations

import ssl

from pondsocket_tools.client import (
    ChannelClosedError,
    ClientClosedError,
    ConnectError,
    ConnectionLostError,
    HandshakeRejectedError,
    JoinDeclinedError,
    JoinTimeoutError,
    PondClientError,
    RequestTimeoutError,
    ServerError,
)
from pondsocket_tools.client.transport import redact

OK = 0
ERROR = 1
USAGE = 2
UNREACHABLE = 3
REFUSED = 4
DECLINED = 5
SERVER_ERROR = 6
TIMEOUT = 7
LOST = 8
INTERRUPTED = 130


def describe(exc: BaseException, *, demo: bool = False, token_sent: bool = True
             ) -> tuple[int, str, str]:
    """``(exit code, message, hint)`` for an error (the hint may be empty)."""
    if isinstance(exc, HandshakeRejectedError):
        hint = ""
        if exc.status in (401, 403):
            hint = "check the token: --token, PONDCTL_TOKEN or the config file"
            if not token_sent:
                hint = ("no token was sent (the default token=demo is only used with the "
                        "default URL): pass --token, set PONDCTL_TOKEN or the config file")
            elif demo:
                hint += " (the demo accepts token=demo and token=demo-mod)"
        elif exc.status == 404:
            hint = "no PondSocket endpoint at this URL path (the demo's is /api/socket)"
        return REFUSED, f"connection refused by the server: HTTP {exc.status}" + (
            f" {exc.reason}" if exc.reason else ""), hint
    tls = _tls_error(exc) if isinstance(exc, ConnectError) else None
    if tls is not None:
        url = redact(getattr(exc, "url", "") or "the server")
        if isinstance(tls, ssl.SSLCertVerificationError):
            reason = tls.verify_message or tls.reason or "verification failed"
            return (UNREACHABLE, f"cannot connect to {url}: the server's TLS certificate is "
                                 f"not trusted ({reason})",
                    "pass the CA certificate that signed it with --cacert FILE, or skip the "
                    "check with --insecure (testing only)")
        return (UNREACHABLE, f"cannot connect to {url}: TLS failed ({tls.reason or tls})",
                "is the server speaking TLS at this address? (ws:// and http:// are plain)")
    if isinstance(exc, ConnectError):
        hint = "is the server running and the URL right? (--url, PONDCTL_URL)"
        if demo:
            hint = "is the demo running? start it with scripts/demo or pondctl demo"
        return UNREACHABLE, str(exc), hint
    if isinstance(exc, JoinDeclinedError):
        return DECLINED, str(exc), ""
    if isinstance(exc, ServerError):
        return SERVER_ERROR, f"the server answered with an error: {exc}", ""
    if isinstance(exc, JoinTimeoutError | RequestTimeoutError):
        return TIMEOUT, str(exc), "raise the limit with --timeout"
    if isinstance(exc, TimeoutError):
        return TIMEOUT, str(exc) or "timed out", "raise the limit with --timeout"
    if isinstance(exc, ChannelClosedError | ConnectionLostError | ClientClosedError):
        return LOST, str(exc), ""
    if isinstance(exc, PondClientError):
        return ERROR, str(exc), ""
    return ERROR, f"{type(exc).__name__}: {exc}", ""


def _tls_error(exc: BaseException) -> ssl.SSLError | None:
    """The TLS error behind a connection failure, if there is one (the transports wrap it:
    ``ConnectError.cause``, then the libraries' own exception chains)."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        pending += [getattr(current, "cause", None), current.__cause__, current.__context__]
    return None
