"""Errors handlers raise, and how they map to HTTP-like codes on the wire.

Raise a :class:`PondError` from any handler or hook to answer the client with that code and
message: a join handler's error declines the join, an event handler's error becomes an
``ERROR`` frame to the sender. Any other exception is answered with a generic 500 (its text is
logged, never sent, so internals do not leak to clients).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .enums import ServerActions, SystemEntity, SystemEvents
from .ids import new_request_id
from .types import Event

STATUS_BAD_REQUEST = 400
STATUS_UNAUTHORIZED = 401
STATUS_FORBIDDEN = 403
STATUS_NOT_FOUND = 404
STATUS_CONFLICT = 409
STATUS_PAYLOAD_TOO_LARGE = 413
STATUS_TOO_MANY_REQUESTS = 429
STATUS_INTERNAL_SERVER_ERROR = 500
STATUS_SERVICE_UNAVAILABLE = 503
STATUS_GATEWAY_TIMEOUT = 504


class PondError(Exception):
    """An error with an HTTP-like ``code`` (100-599) that is safe to show to the client."""

    def __init__(
        self,
        message: str,
        code: int = STATUS_INTERNAL_SERVER_ERROR,
        *,
        channel_name: str = "",
        temporary: bool = False,
        details: Mapping[str, Any] | None = None,
        cause: BaseException | None = None,
    ) -> None:
        if not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"PondError code must be an int from 100 to 599, got {code!r}")
        super().__init__(message)
        self.message = message
        self.code = code
        self.channel_name = channel_name
        self.temporary = temporary
        self.details = dict(details) if details else {}
        self.cause = cause
        if cause is not None:
            self.__cause__ = cause

    def to_payload(self) -> dict[str, Any]:
        """The ``{"code", "message"}`` payload of the error frame (plus extras when set)."""
        payload: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.temporary:
            payload["temporary"] = True
        if self.details:
            payload["details"] = self.details
        return payload

    def __repr__(self) -> str:
        return f"PondError({self.message!r}, {self.code})"


class MultiError(PondError):
    """Several errors reported as one (the code of the first one wins)."""

    def __init__(self, errors: list[BaseException]) -> None:
        if not errors:
            raise ValueError("MultiError needs at least one error")
        first = errors[0]
        code = first.code if isinstance(first, PondError) else STATUS_INTERNAL_SERVER_ERROR
        super().__init__("; ".join(str(e) for e in errors), code)
        self.errors = list(errors)


def _make(code: int, temporary: bool = False):
    def build(channel_name: str, message: str) -> PondError:
        return PondError(message, code, channel_name=channel_name, temporary=temporary)

    return build


bad_request = _make(STATUS_BAD_REQUEST)
unauthorized = _make(STATUS_UNAUTHORIZED)
forbidden = _make(STATUS_FORBIDDEN)
not_found = _make(STATUS_NOT_FOUND)
conflict = _make(STATUS_CONFLICT)
too_many_requests = _make(STATUS_TOO_MANY_REQUESTS, temporary=True)
internal = _make(STATUS_INTERNAL_SERVER_ERROR)
unavailable = _make(STATUS_SERVICE_UNAVAILABLE, temporary=True)
timeout = _make(STATUS_GATEWAY_TIMEOUT, temporary=True)
for _name, _fn in [
    ("bad_request", bad_request), ("unauthorized", unauthorized), ("forbidden", forbidden),
    ("not_found", not_found), ("conflict", conflict), ("too_many_requests", too_many_requests),
    ("internal", internal), ("unavailable", unavailable), ("timeout", timeout),
]:
    _fn.__name__ = _fn.__qualname__ = _name
    _fn.__doc__ = f"A :class:`PondError` with the status code of ``{_name}``."


def as_pond_error(err: BaseException) -> PondError:
    """``err`` itself if it is a :class:`PondError`, else a generic 500 that hides its text."""
    if isinstance(err, PondError):
        return err
    return PondError("Internal server error", STATUS_INTERNAL_SERVER_ERROR, cause=err)


def error_event(err: BaseException | None) -> Event | None:
    """A ``SYSTEM/INTERNAL_ERROR`` event describing ``err`` (``None`` for ``None``)."""
    if err is None:
        return None
    pond = as_pond_error(err)
    return Event(
        action=ServerActions.SYSTEM,
        channel_name=pond.channel_name or SystemEntity.GATEWAY,
        request_id=new_request_id(),
        event=SystemEvents.INTERNAL_ERROR,
        payload={
            "code": pond.code,
            "message": pond.message,
            "temporary": pond.temporary,
            "details": pond.details,
        },
    )


__all__ = ["STATUS_BAD_REQUEST", "STATUS_CONFLICT", "STATUS_FORBIDDEN", "STATUS_GATEWAY_TIMEOUT",
           "STATUS_INTERNAL_SERVER_ERROR", "STATUS_NOT_FOUND", "STATUS_PAYLOAD_TOO_LARGE",
           "STATUS_SERVICE_UNAVAILABLE", "STATUS_TOO_MANY_REQUESTS", "STATUS_UNAUTHORIZED",
           "MultiError", "PondError", "as_pond_error", "bad_request", "conflict", "error_event",
           "forbidden", "internal", "not_found", "timeout", "too_many_requests", "unauthorized",
           "unavailable"]
