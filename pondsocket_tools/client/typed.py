"""Typed helpers: the same :class:`~pondsocket.PondEvent` / :class:`~pondsocket.PondSchema`
declarations the server uses, on the client side.

::

    from dataclasses import dataclass
    from pondsocket import PondEvent, PondSchema

    @dataclass
    class Text:
        text: str

    @dataclass
    class Said:
        text: str
        at: float
        # "from" is a keyword: extra keys of the payload are ignored for dataclasses

    @dataclass
    class Member:
        name: str
        status: str
        role: str

    MESSAGE = PondEvent("message", Text, Said)
    CHAT = PondSchema("chat", presence_type=Member)

    chat = await join_typed(client, CHAT, build_channel_name("/chat/:room", room=1))
    await chat.send(MESSAGE, Text("hi"))
    async for said in chat.messages(MESSAGE):   # Said instances
        ...
    chat.presence                                # list[Member]

Payloads may be dataclasses, pydantic models, ``TypedDict``s or plain dicts; incoming ones are
built from the event's ``response_type`` (for :meth:`TypedChannel.request` and for
:meth:`TypedChannel.messages`) and the schema's ``presence_type``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pondsocket.typed import PondEvent, PondSchema, from_pond_object, to_pond_object

from .channel import Channel
from .client import PondClient
from .protocol import Message, PresenceEvent

PayloadT = TypeVar("PayloadT")
ResponseT = TypeVar("ResponseT")
PresenceT = TypeVar("PresenceT")


class TypedChannel(Generic[PresenceT]):
    """A :class:`Channel` whose payloads and presence are typed by declarations."""

    def __init__(self, channel: Channel, schema: PondSchema[PresenceT, Any, Any] | None = None
                 ) -> None:
        self.raw = channel
        self.schema: PondSchema[PresenceT, Any, Any] = schema or PondSchema()

    @property
    def name(self) -> str:
        return self.raw.name

    @property
    def presence(self) -> list[PresenceT]:
        """The live presence list, each entry built as the schema's ``presence_type``."""
        return [from_pond_object(p, self.schema.presence_type) for p in self.raw.presence]

    async def send(self, event: PondEvent[PayloadT, Any], payload: PayloadT | None = None
                   ) -> str:
        """Send ``event`` with a typed payload; returns the request id."""
        return await self.raw.send(event.name, to_pond_object(payload))

    async def request(self, event: PondEvent[PayloadT, ResponseT],
                      payload: PayloadT | None = None, *, timeout: float | None = None
                      ) -> ResponseT:
        """Send ``event`` and return the reply's payload as the event's ``response_type``."""
        reply = await self.raw.request(event.name, to_pond_object(payload), timeout=timeout)
        return from_pond_object(reply.payload, event.response_type)

    async def messages(self, event: PondEvent[Any, ResponseT]) -> AsyncIterator[ResponseT]:
        """Incoming ``event`` messages, each payload built as the event's ``response_type``
        (error messages are skipped: they go to :meth:`Channel.messages`)."""
        async for message in self.raw.messages(event.name):
            if not message.is_error:
                yield from_pond_object(message.payload, event.response_type)

    def typed_presence(self, event: PresenceEvent) -> tuple[PresenceT, list[PresenceT]]:
        """``(changed, presence)`` of a presence event, typed."""
        kind = self.schema.presence_type
        return (from_pond_object(event.changed, kind),
                [from_pond_object(p, kind) for p in event.presence])

    def payload(self, message: Message, event: PondEvent[Any, ResponseT]) -> ResponseT:
        """``message.payload`` built as ``event``'s ``response_type``."""
        return from_pond_object(message.payload, event.response_type)

    async def leave(self, timeout: float | None = None) -> None:
        await self.raw.leave(timeout)


async def join_typed(client: PondClient, schema: PondSchema[PresenceT, Any, Any],
                     channel: str, params: Any = None, *, timeout: float | None = None
                     ) -> TypedChannel[PresenceT]:
    """Join ``channel`` with typed join ``params``; returns a :class:`TypedChannel`."""
    joined = await client.join(channel, to_pond_object(params), timeout=timeout)
    return TypedChannel(joined, schema)


def build_channel_name(pattern: str, params: Mapping[str, Any] | None = None,
                       **kwargs: Any) -> str:
    """Fill a channel pattern: ``build_channel_name("/chat/:room", room=1)`` is
    ``"/chat/1"``. Values are URL-quoted; a missing parameter raises ``KeyError``."""
    values = {**(params or {}), **kwargs}
    segments = []
    for segment in pattern.split("/"):
        if segment.startswith(":"):
            key = segment[1:]
            if key not in values:
                raise KeyError(f"channel pattern {pattern!r} needs a value for {key!r}")
            segments.append(quote(str(values[key]), safe=""))
        else:
            segments.append(segment)
    return "/".join(segments)


__all__ = ["PondEvent", "PondSchema", "TypedChannel", "build_channel_name", "join_typed"]
