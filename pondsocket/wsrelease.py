"""Freeing a closed ``websockets`` protocol by reference counting.

A ``websockets`` sans-I/O protocol (:class:`websockets.protocol.Protocol`, which both
uvicorn's default WebSocket protocol and the direct server use) parses with a generator that
it keeps as ``parser``: suspended, the generator's frame holds the protocol, a reference
cycle. An error while parsing (an abrupt end of the stream: ``EOFError``) is kept as
``parser_exc``, whose traceback holds the parser's frame, another cycle. Left alone, a closed
connection's protocol (with its reader, buffers and last frames) waits for a full garbage
collection, which never frees objects ``gc.freeze()`` moved out of its reach.
"""

from __future__ import annotations

from typing import Any


def release_websocket_protocol(protocol: Any) -> None:
    """Break the reference cycles of ``protocol``, a ``websockets`` sans-I/O protocol whose
    connection is closed (its transport reported the loss): it parses nothing more."""
    parser = getattr(protocol, "parser", None)
    if parser is not None:
        parser.close()  # GeneratorExit at its yield: its frame lets the protocol go
    exc = getattr(protocol, "parser_exc", None)
    if exc is not None:
        exc.__traceback__ = None  # what the error was stays; the parser's frames go


__all__ = ["release_websocket_protocol"]
