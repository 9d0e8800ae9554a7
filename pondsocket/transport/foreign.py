"""Serving a transport that implements only the :class:`Transport` protocol."""

from __future__ import annotations

from typing import Any

from ..types import Event
from ..wire import Frame, frame_to_event
from .base import BaseTransport, Transport


class ProtocolTransport(BaseTransport):
    """Wraps a protocol-only transport so that it gets what every transport gets here: an
    ordered, bounded outbound queue with one writer, error frames, and close handling.
    ``Endpoint.register_transport`` wraps such transports automatically."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.get_id())
        self.inner = inner
        self.kind = inner.transport_type()
        inner.on_message(self._from_inner)
        inner.on_close(self._inner_closed)

    def get_assign(self, key: str) -> Any:
        return self.inner.get_assign(key)

    def set_assign(self, key: str, value: Any) -> None:
        self.inner.set_assign(key, value)

    def clone_assigns(self) -> dict[str, Any]:
        return self.inner.clone_assigns()

    async def handle_messages(self) -> None:
        await self.inner.handle_messages()

    async def _from_inner(self, event: Event, _inner: Transport) -> None:
        if self._handler is not None and not self._closing:
            await self._handler(event, self)

    async def _inner_closed(self, _inner: Transport) -> None:
        self.connection_lost()
        await self.wait_closed()  # the user has left its channels when the inner close returns

    async def _write(self, frame: Frame) -> None:
        await self.inner.send_event(frame_to_event(frame))

    async def _shutdown(self, code: int, reason: str) -> None:
        if self.inner.is_active():
            await self.inner.close()
