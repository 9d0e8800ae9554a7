"""WebSocket frame bytes made once per :class:`~pondsocket.wire.Frame`, shared by recipients.

The direct server (:mod:`pondsocket.wsserver`) writes the finished bytes of a WebSocket text
frame (header and payload) straight to each connection's socket. Every connection that
negotiated the same thing gets the same bytes, so they are made once per broadcast and kept
in ``Frame.encodings`` under a :class:`FrameEncoding`:

* :data:`PLAIN`: no compression;
* a :class:`SharedDeflate`: permessage-deflate (RFC 7692) where the server compresses every
  message on its own (``server_no_context_takeover``), so the compressed message does not
  depend on what the connection was sent before: one compression serves every connection
  with the same window and zlib settings (compress once, not once per recipient).

A connection whose compression keeps a context between messages has no shared encoding
(:func:`encoding_for` returns None): its frames are compressed for it alone by ``websockets``.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

from .wire import Frame

_TEXT_FIN = 0x81  # FIN + opcode 1 (text)
_RSV1 = 0x40  # set on the first frame of a compressed message (RFC 7692)
# zlib's sync flush ends with an empty stored block, which RFC 7692 says to strip.
_EMPTY_BLOCK = b"\x00\x00\xff\xff"


def _header(first: int, length: int) -> bytes:
    """A server (unmasked) frame header for a payload of ``length`` bytes."""
    if length < 126:
        return struct.pack("!BB", first, length)
    if length < 65536:
        return struct.pack("!BBH", first, 126, length)
    return struct.pack("!BBQ", first, 127, length)


class FrameEncoding:
    """How one kind of connection wants its data frames; the key of ``Frame.encodings``.

    Instances are shared: connections that negotiated the same parameters get the same
    instance (:func:`encoding_for`), so a frame is encoded once for all of them.
    """

    __slots__ = ()

    def payload(self, data: bytes) -> tuple[int, bytes]:
        """The first header byte and the payload of a text message holding ``data``."""
        return _TEXT_FIN, data

    def frame_bytes(self, frame: Frame) -> bytes:
        """The complete WebSocket frame for ``frame``, made on first use and cached on it."""
        cache = frame.encodings
        if cache is None:
            cache = frame.encodings = {}
        else:
            found = cache.get(self)
            if found is not None:
                return found
        first, payload = self.payload(frame.data)
        data = cache[self] = _header(first, len(payload)) + payload
        return data


class SharedDeflate(FrameEncoding):
    """permessage-deflate without server context takeover, compressed once per frame."""

    __slots__ = ("settings", "window_bits")

    def __init__(self, window_bits: int, settings: tuple[tuple[str, Any], ...]) -> None:
        self.window_bits = window_bits
        self.settings = settings

    def payload(self, data: bytes) -> tuple[int, bytes]:
        # What websockets' own encoder sends for one message without context takeover.
        encoder = zlib.compressobj(wbits=-self.window_bits, **dict(self.settings))
        compressed = encoder.compress(data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        return _TEXT_FIN | _RSV1, compressed.removesuffix(_EMPTY_BLOCK)

    def __repr__(self) -> str:
        return f"SharedDeflate(window_bits={self.window_bits}, settings={dict(self.settings)})"


#: Uncompressed text frames.
PLAIN = FrameEncoding()
_shared: dict[tuple[int, tuple[tuple[str, Any], ...]], SharedDeflate] = {}


def encoding_for(extensions: Sequence[Extension]) -> FrameEncoding | None:
    """The shared encoding of a connection with these negotiated ``extensions``: :data:`PLAIN`
    without any, a :class:`SharedDeflate` for permessage-deflate without server context
    takeover, None for anything else (compressed per connection by ``websockets``)."""
    if not extensions:
        return PLAIN
    if len(extensions) != 1 or type(extensions[0]) is not PerMessageDeflate:
        return None
    deflate = extensions[0]
    if not deflate.local_no_context_takeover:
        return None
    key = (deflate.local_max_window_bits, tuple(sorted(deflate.compress_settings.items())))
    encoding = _shared.get(key)
    if encoding is None:
        encoding = _shared[key] = SharedDeflate(*key)
    return encoding


def compress_once_extensions(window_bits: int = 15, memory_level: int = 8
                             ) -> list[ServerPerMessageDeflateFactory]:
    """The ``extensions`` of ``websockets.serve`` for compress-once: permessage-deflate with
    ``server_no_context_takeover``, so one compressed frame serves every recipient, and
    ``client_no_context_takeover``, so a connection keeps no zlib state between messages in
    either direction (an idle connection costs no compression memory). ``window_bits``
    (9-15) bounds the server's LZ77 window, ``memory_level`` (1-9) zlib's memory for the
    one compression per frame."""
    return [ServerPerMessageDeflateFactory(
        server_no_context_takeover=True, client_no_context_takeover=True,
        server_max_window_bits=window_bits, compress_settings={"memLevel": memory_level})]


__all__ = ["PLAIN", "FrameEncoding", "SharedDeflate", "compress_once_extensions", "encoding_for"]
