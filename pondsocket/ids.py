"""Identifiers the server makes: request ids (the bottom of the protocol layer, importing
nothing of the project)."""

from __future__ import annotations

import uuid as _uuid


def new_request_id() -> str:
    """A fresh random request id (a UUID4 string)."""
    return str(_uuid.uuid4())


__all__ = ["new_request_id"]
