"""The typed API: declare events and channel schemas once, get typed handlers.

Payload, presence, assigns and join-param types may be dataclasses, pydantic models,
``TypedDict``s or plain ``dict``. Outgoing values are converted with :func:`to_pond_object`,
incoming ones with :func:`from_pond_object`. Types document and convert; they are not a
validation layer (a pydantic model does validate when it is constructed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from .errors import PondError
from .types import PondObject

if TYPE_CHECKING:
    from .channel import Channel
    from .contexts.event import EventContext
    from .contexts.join import JoinContext
    from .lobby import Lobby

PayloadT = TypeVar("PayloadT")
ResponseT = TypeVar("ResponseT")
PresenceT = TypeVar("PresenceT")
AssignsT = TypeVar("AssignsT")
JoinParamsT = TypeVar("JoinParamsT")


@dataclass(frozen=True, slots=True)
class PondEvent(Generic[PayloadT, ResponseT]):
    """An event name with the type of its payload and of its reply."""

    name: str
    payload_type: type[PayloadT] | None = None
    response_type: type[ResponseT] | None = None


@dataclass(frozen=True, slots=True)
class PondSchema(Generic[PresenceT, AssignsT, JoinParamsT]):
    """The types of a channel's presence, assigns and join params."""

    name: str = ""
    presence_type: type[PresenceT] | None = None
    assigns_type: type[AssignsT] | None = None
    join_params_type: type[JoinParamsT] | None = None


@dataclass(slots=True)
class TypedPresencePayload(Generic[PresenceT]):
    """A presence frame's payload with typed entries."""

    changed: PresenceT
    presence: list[PresenceT]


def pond_event(name: str, payload_type: type[PayloadT] | None = None,
               response_type: type[ResponseT] | None = None) -> PondEvent[PayloadT, ResponseT]:
    return PondEvent(name, payload_type, response_type)


def pond_schema(name: str = "", presence_type: type[PresenceT] | None = None,
                assigns_type: type[AssignsT] | None = None,
                join_params_type: type[JoinParamsT] | None = None
                ) -> PondSchema[PresenceT, AssignsT, JoinParamsT]:
    return PondSchema(name, presence_type, assigns_type, join_params_type)


def to_pond_object(value: object | None) -> PondObject:
    """A JSON object (``dict``) from a mapping, dataclass or pydantic model."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"cannot convert {type(value).__name__} to a JSON object; use a dict, "
                    "a dataclass or a pydantic model")


def from_pond_object(value: Any, target_type: type[Any] | None = None) -> Any:
    """Build ``target_type`` from a JSON object (returned as is without a target type).

    A value that does not fit raises :class:`~pondsocket.PondError` 400, so a client that
    sends a malformed payload gets a 400 error frame, not a 500.
    """
    if target_type is None or not isinstance(value, Mapping):
        return value
    try:
        validate = getattr(target_type, "model_validate", None)
        if callable(validate):
            return validate(value)
        if dataclasses.is_dataclass(target_type):
            names = {f.name for f in dataclasses.fields(target_type)}
            return target_type(**{k: v for k, v in value.items() if k in names})
    except (TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise PondError(f"Invalid {target_type.__name__}: {exc}", 400) from exc
    return value  # dict, TypedDict, Mapping: already the right shape


class TypedChannel(Generic[PresenceT, AssignsT]):
    """A :class:`~pondsocket.Channel` with typed payloads, presence and assigns."""

    def __init__(self, raw: Channel, schema: PondSchema[PresenceT, AssignsT, Any] | None = None
                 ) -> None:
        self._raw = raw
        self._schema = schema or PondSchema()

    @property
    def raw(self) -> Channel:
        return self._raw

    @property
    def name(self) -> str:
        return self._raw.name

    async def broadcast(self, event: PondEvent[PayloadT, Any], payload: PayloadT) -> None:
        await self._raw.broadcast(event.name, to_pond_object(payload))

    async def broadcast_to(self, event: PondEvent[PayloadT, Any], payload: PayloadT,
                           *user_ids: str) -> None:
        await self._raw.broadcast_to(event.name, to_pond_object(payload), *user_ids)

    async def broadcast_from(self, event: PondEvent[PayloadT, Any], payload: PayloadT,
                             sender_id: str) -> None:
        await self._raw.broadcast_from(event.name, to_pond_object(payload), sender_id)

    async def track_presence(self, user_id: str, presence: PresenceT) -> None:
        await self._raw.track_presence(user_id, to_pond_object(presence))

    async def update_presence(self, user_id: str, presence: PresenceT) -> None:
        await self._raw.update_presence(user_id, to_pond_object(presence))

    async def get_presence(self) -> dict[str, PresenceT]:
        presence = await self._raw.get_presence()
        return {k: from_pond_object(v, self._schema.presence_type) for k, v in presence.items()}

    async def get_assigns(self) -> dict[str, AssignsT]:
        assigns = await self._raw.get_assigns()
        return {k: from_pond_object(v, self._schema.assigns_type) for k, v in assigns.items()}


class _TypedReads(Generic[PresenceT, AssignsT]):
    _raw: Any
    _schema: PondSchema[Any, Any, Any]

    async def get_all_presence(self) -> dict[str, PresenceT]:
        presence = await self._raw.get_all_presence()
        return {k: from_pond_object(v, self._schema.presence_type) for k, v in presence.items()}

    async def get_all_assigns(self) -> dict[str, AssignsT]:
        assigns = await self._raw.get_all_assigns()
        return {k: from_pond_object(v, self._schema.assigns_type) for k, v in assigns.items()}


class TypedJoinContext(_TypedReads[PresenceT, AssignsT], Generic[PresenceT, AssignsT,
                                                                  JoinParamsT]):
    """A :class:`~pondsocket.JoinContext` with typed join params, presence and assigns."""

    def __init__(self, raw: JoinContext,
                 schema: PondSchema[PresenceT, AssignsT, JoinParamsT] | None = None) -> None:
        self._raw = raw
        self._schema = schema or PondSchema()

    @property
    def raw(self) -> JoinContext:
        return self._raw

    @property
    def join_params(self) -> JoinParamsT:
        return from_pond_object(self._raw.join_params, self._schema.join_params_type)

    @property
    def user_id(self) -> str:
        return self._raw.user_id

    @property
    def channel(self) -> TypedChannel[PresenceT, AssignsT]:
        return TypedChannel(self._raw.channel, self._schema)

    async def accept(self, assigns: AssignsT | None = None) -> Self:
        await self._raw.accept(to_pond_object(assigns) if assigns is not None else None)
        return self

    async def decline(self, code: int, message: str) -> None:
        await self._raw.decline(code, message)

    async def reply(self, event: PondEvent[Any, ResponseT], payload: ResponseT) -> Self:
        await self._raw.reply(event.name, to_pond_object(payload))
        return self

    async def track(self, presence: PresenceT) -> Self:
        await self._raw.track(to_pond_object(presence))
        return self

    async def broadcast(self, event: PondEvent[PayloadT, Any], payload: PayloadT) -> Self:
        await self._raw.broadcast(event.name, to_pond_object(payload))
        return self

    async def assign(self, assigns: AssignsT) -> Self:
        await self._raw.assign(to_pond_object(assigns))
        return self


class TypedEventContext(_TypedReads[PresenceT, AssignsT], Generic[PayloadT, PresenceT,
                                                                   AssignsT]):
    """An :class:`~pondsocket.EventContext` with a typed payload."""

    def __init__(self, raw: EventContext, event: PondEvent[PayloadT, Any],
                 schema: PondSchema[PresenceT, AssignsT, Any] | None = None) -> None:
        self._raw = raw
        self._event = event
        self._schema = schema or PondSchema()

    @property
    def raw(self) -> EventContext:
        return self._raw

    @property
    def payload(self) -> PayloadT:
        return from_pond_object(self._raw.get_payload(), self._event.payload_type)

    @property
    def event_name(self) -> str:
        return self._raw.event_name

    @property
    def user(self) -> Any:
        return self._raw.user

    @property
    def assigns(self) -> AssignsT:
        return from_pond_object(self._raw.user.assigns, self._schema.assigns_type)

    @property
    def presence(self) -> PresenceT | None:
        presence = self._raw.user.presence
        return None if presence is None else from_pond_object(presence,
                                                              self._schema.presence_type)

    @property
    def channel(self) -> TypedChannel[PresenceT, AssignsT]:
        return TypedChannel(self._raw.channel, self._schema)

    async def reply(self, event: PondEvent[Any, ResponseT], payload: ResponseT) -> Self:
        await self._raw.reply(event.name, to_pond_object(payload))
        return self

    async def broadcast(self, event: PondEvent[ResponseT, Any], payload: ResponseT) -> Self:
        await self._raw.broadcast(event.name, to_pond_object(payload))
        return self

    async def broadcast_from(self, event: PondEvent[ResponseT, Any], payload: ResponseT) -> Self:
        await self._raw.broadcast_from(event.name, to_pond_object(payload))
        return self

    async def track(self, presence: PresenceT) -> Self:
        await self._raw.track(to_pond_object(presence))
        return self

    async def update_presence(self, presence: PresenceT) -> Self:
        await self._raw.update_presence(to_pond_object(presence))
        return self

    async def assign(self, assigns: AssignsT) -> Self:
        await self._raw.assign(to_pond_object(assigns))
        return self


TypedJoinHandler = Callable[[TypedJoinContext[PresenceT, AssignsT, JoinParamsT]],
                            Awaitable[None]]
TypedEventHandler = Callable[[TypedEventContext[PayloadT, PresenceT, AssignsT]], Awaitable[None]]


class TypedLobby(Generic[PresenceT, AssignsT]):
    """A :class:`~pondsocket.Lobby` whose handlers get typed contexts."""

    def __init__(self, raw: Lobby, schema: PondSchema[PresenceT, AssignsT, Any] | None = None
                 ) -> None:
        self._raw = raw
        self._schema = schema or PondSchema()

    @property
    def raw(self) -> Lobby:
        return self._raw

    def on(self, event: PondEvent[PayloadT, Any],
           handler: TypedEventHandler[PayloadT, PresenceT, AssignsT]) -> None:
        """Handle ``event`` (its name is the pattern) with a typed context."""
        schema = self._schema

        async def typed(ctx: EventContext) -> None:
            await handler(TypedEventContext(ctx, event, schema))

        self._raw.on_message(event.name, typed)

    async def get_channel(self, name: str) -> TypedChannel[PresenceT, AssignsT] | None:
        channel = await self._raw.get_channel(name)
        return None if channel is None else TypedChannel(channel, self._schema)


def typed_lobby(raw: Lobby, schema: PondSchema[PresenceT, AssignsT, Any]
                ) -> TypedLobby[PresenceT, AssignsT]:
    """Wrap an existing lobby in the typed API."""
    return TypedLobby(raw, schema)


__all__ = ["AssignsT", "JoinParamsT", "PayloadT", "PondEvent", "PondSchema", "PresenceT",
           "ResponseT", "TypedChannel", "TypedEventContext", "TypedEventHandler",
           "TypedJoinContext", "TypedJoinHandler", "TypedLobby", "TypedPresencePayload",
           "from_pond_object", "pond_event", "pond_schema", "to_pond_object", "typed_lobby"]
