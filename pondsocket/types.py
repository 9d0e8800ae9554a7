"""Plain data types shared by the whole core."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .enums import ChannelReceiver, SystemEntity

PondObject = dict[str, Any]
PondMessage = dict[str, Any]
PondPresence = dict[str, Any]
PondAssigns = dict[str, Any]
JoinParams = dict[str, Any]


@dataclass(slots=True)
class Event:
    """One protocol message, inbound or outbound, before or after encoding.

    The first five fields are the wire envelope; the rest are server-side routing data that
    never reaches a client.
    """

    action: str
    channel_name: str
    request_id: str
    event: str
    payload: Any = None
    node_id: str = ""
    recipients: list[str] = field(default_factory=list)
    recipient_descriptor: object = ChannelReceiver.ALL_USERS
    from_user_id: str = SystemEntity.CHANNEL.value
    user_id: str = ""


@dataclass(slots=True)
class UserData:
    """A snapshot of one channel member: id, assigns and presence."""

    id: str
    assigns: PondAssigns = field(default_factory=dict)
    presence: PondPresence = field(default_factory=dict)


@dataclass(slots=True)
class User:
    """A channel member as handlers see it. ``presence`` is ``None`` when not tracked."""

    id: str
    assigns: PondAssigns = field(default_factory=dict)
    presence: PondPresence | None = None

    def to_user_data(self) -> UserData:
        return UserData(self.id, dict(self.assigns), dict(self.presence or {}))


@dataclass(slots=True)
class MessageEvent:
    """An inbound event together with the user who sent it."""

    event: Event
    user: User


@dataclass(slots=True, frozen=True)
class AllUsers:
    """Recipients: every member of the channel."""


@dataclass(slots=True, frozen=True)
class AllExceptSender:
    """Recipients: every member except ``sender_id``."""

    sender_id: str


@dataclass(slots=True, frozen=True)
class ToUsers:
    """Recipients: exactly these members (ids that are not members are skipped)."""

    user_ids: tuple[str, ...]


RecipientSpec = AllUsers | AllExceptSender | ToUsers


@dataclass(slots=True)
class Route:
    """What a pattern extracted from a path: ``:params``, ``?query`` and the ``*`` rest."""

    params: dict[str, str] = field(default_factory=dict)
    query: dict[str, list[str]] = field(default_factory=dict)
    wildcard: str | None = None

    def param(self, key: str) -> str:
        """The value of route parameter ``key`` (``KeyError`` if the pattern has none)."""
        return self.params[key]

    def query_param(self, key: str) -> list[str]:
        """All values of query parameter ``key`` (empty list when absent)."""
        return self.query.get(key, [])


class Headers(Mapping[str, str]):
    """A case-insensitive, read-only view over raw HTTP headers (ASGI style byte pairs)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Iterable[tuple[bytes | str, bytes | str]] = ()) -> None:
        self._raw: list[tuple[str, str]] = [
            (_text(name).lower(), _text(value)) for name, value in raw
        ]

    @property
    def raw(self) -> list[tuple[str, str]]:
        return list(self._raw)

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        name = name.lower()
        for key, value in self._raw:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self._raw if key == name]

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return list(self._raw)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[str]:
        seen: set[str] = set()
        for key, _ in self._raw:
            if key not in seen:
                seen.add(key)
                yield key

    def __len__(self) -> int:
        return len({key for key, _ in self._raw})

    def __repr__(self) -> str:
        return f"Headers({self._raw!r})"


def _text(value: bytes | str) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


@dataclass(slots=True)
class IncomingConnection:
    """What a transport knows about a connection request before it is accepted."""

    id: str
    address: str
    headers: Headers = field(default_factory=Headers)
    cookies: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    #: The protocol extensions the client asked for (``pond_ext``; see
    #: :mod:`pondsocket.extensions`), already removed from ``query``.
    extensions: frozenset[str] = frozenset()


def parse_cookies(header: str | None) -> dict[str, str]:
    """Parse a ``Cookie`` header into a dict (first value wins, values URL-decoded)."""
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name and name not in cookies:
            cookies[name] = unquote(value.strip().strip('"'))
    return cookies


__all__ = ["AllExceptSender", "AllUsers", "Event", "Headers", "IncomingConnection", "JoinParams",
           "MessageEvent", "PondAssigns", "PondMessage", "PondObject", "PondPresence",
           "RecipientSpec", "Route", "ToUsers", "User", "UserData", "parse_cookies"]
