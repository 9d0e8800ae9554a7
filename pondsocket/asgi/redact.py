"""Hiding credentials that clients put in query strings (``?token=...``) from log lines.

uvicorn writes the request path with its query string into its access log
(``"GET /api/socket?token=secret HTTP/1.1" 200``) and into the ``uvicorn.error`` lines of
WebSocket handshakes (``"WebSocket /api/socket?token=secret" [accepted]``).
:class:`RedactQueryFilter` replaces the values of the named parameters with ``[redacted]``
in every record it sees; :func:`redacting_log_config` is uvicorn's logging configuration
with that filter on its handlers (``uvicorn.run(app, log_config=redacting_log_config())``).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Iterable
from typing import Any

#: The query parameters redacted by default: the token names the docs use, and the usual
#: names of credentials.
DEFAULT_REDACTED_PARAMS: tuple[str, ...] = (
    "token", "access_token", "refresh_token", "id_token", "auth", "authorization", "password",
    "passwd", "secret", "key", "api_key", "apikey", "jwt", "session", "signature", "sig",
)
REDACTED = "[redacted]"
_NAME = re.compile(r"^[A-Za-z0-9_.~-]+$")


class RedactQueryFilter(logging.Filter):
    """Replaces ``name=value`` query parameters whose name is in ``names`` (case-insensitive;
    default :data:`DEFAULT_REDACTED_PARAMS`) or in ``extra_names`` with ``name=[redacted]``
    in a record's message and arguments. Never drops a record. ``ValueError`` for a name that
    cannot appear in a query string unencoded (empty, or with characters other than letters,
    digits, ``_.~-``).
    """

    def __init__(self, names: Iterable[str] | None = None,
                 extra_names: Iterable[str] = ()) -> None:
        super().__init__()
        names = (*(DEFAULT_REDACTED_PARAMS if names is None else names), *extra_names)
        for name in names:
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(f"not a query parameter name: {name!r}")
        self.names = names
        alternatives = "|".join(sorted((re.escape(n) for n in set(names)), key=len,
                                       reverse=True))
        # A name right after ? & or ; up to the end of its value (&, ;, #, space, quote).
        self._pattern = re.compile(rf"(?<=[?&;])((?:{alternatives})=)[^&;#\s\"']*",
                                   re.IGNORECASE) if names else None

    def redact(self, text: str) -> str:
        """``text`` with the values of the named query parameters replaced."""
        if self._pattern is None or "=" not in text:
            return text
        return self._pattern.sub(rf"\g<1>{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self.redact(record.msg)
        # Arguments are redacted one by one, not merged into the message: uvicorn's access
        # formatter reads them by position.
        if isinstance(record.args, tuple):
            record.args = tuple(self.redact(a) if isinstance(a, str) else a
                                for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: self.redact(v) if isinstance(v, str) else v
                           for k, v in record.args.items()}
        return True


def redacting_log_config(extra_names: Iterable[str] = (),
                         base: dict[str, Any] | None = None) -> dict[str, Any]:
    """uvicorn's logging configuration (or ``base``, a ``logging.config.dictConfig``
    dictionary) with a :class:`RedactQueryFilter` on every handler, for the
    :data:`DEFAULT_REDACTED_PARAMS` and ``extra_names`` (``ValueError`` for a bad name)."""
    names = RedactQueryFilter(extra_names=extra_names).names  # checks them now
    if base is None:
        from uvicorn.config import LOGGING_CONFIG

        base = LOGGING_CONFIG
    config = copy.deepcopy(base)
    config.setdefault("filters", {})["pondsocket_redact"] = {
        "()": RedactQueryFilter, "names": list(names)}
    for handler in config.get("handlers", {}).values():
        handler.setdefault("filters", []).append("pondsocket_redact")
    return config
