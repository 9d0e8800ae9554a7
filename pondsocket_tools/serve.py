"""Loading an app from ``module:attribute`` and serving it with uvicorn."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from pondsocket import PondSocket


class TargetError(Exception):
    """A ``module:attribute`` that cannot be served."""


def load_target(target: str) -> Any:
    """Import ``module:attribute`` and return an ASGI app (a ``PondSocket`` gets wrapped)."""
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
    return as_asgi(obj)


def as_asgi(obj: Any) -> Any:
    if isinstance(obj, PondSocket):
        from pondsocket.asgi import PondASGIApp

        return PondASGIApp(obj)
    if callable(obj):
        return obj
    raise TargetError(f"{type(obj).__name__} is neither a PondSocket nor an ASGI app")


def uvicorn_settings(app: Any, host: str, port: int, log_level: str) -> dict[str, Any]:
    """uvicorn settings matched to the app's limits."""
    pond = getattr(app, "pond", None)
    max_size = pond.options.max_message_size if isinstance(pond, PondSocket) else 1 << 20
    # Frames up to 4x the limit get a clear 413 error frame; beyond that uvicorn closes (1009).
    return {"host": host, "port": port, "log_level": log_level, "ws_max_size": max_size * 4,
            "lifespan": "on"}


def _reload_app() -> Any:
    """Factory used by ``pondctl serve --reload`` in uvicorn's worker process."""
    return load_target(os.environ["PONDCTL_SERVE_TARGET"])
