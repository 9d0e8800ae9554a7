"""Path patterns for endpoints, channels and event names.

A pattern is a ``/``-separated list of segments; a path matches when every segment does:

============  ============================================================================
segment       matches
============  ============================================================================
``chat``      exactly ``chat`` (case-sensitive)
``:room``     any one segment, captured as ``params["room"]`` (URL-decoded)
``item-:id``  a segment that starts with ``item-``; the rest (non-empty) is ``params["id"]``.
              Only when the prefix ends with one of ``- _ . ~`` - so ``room:lobby`` or
              ``chat:message`` (Phoenix-style names) stay literal and match only themselves.
``*``         the rest of the path, possibly empty, captured as ``Route.wildcard``;
              pattern segments after ``*`` are ignored
============  ============================================================================

Leading and trailing slashes and empty segments are ignored (``/chat/1/`` is ``chat/1``). A
``?query`` part of the path is parsed into ``Route.query`` (every value kept, blanks too) and
never affects matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qs, unquote

from .types import Route

PREFIX_SEPARATORS = "-_.~"

_LITERAL, _PARAM, _PREFIX_PARAM, _WILDCARD = range(4)


@dataclass(frozen=True, slots=True)
class _Segment:
    kind: int
    text: str = ""  # literal text, or the prefix of a prefix param
    name: str = ""  # param name


def _split(path: str) -> list[str]:
    return [segment for segment in path.split("/") if segment]


def _compile_segment(segment: str) -> _Segment:
    if segment == "*":
        return _Segment(_WILDCARD)
    if segment.startswith(":") and segment[1:].isidentifier():
        return _Segment(_PARAM, name=segment[1:])
    prefix, colon, name = segment.rpartition(":")
    if colon and name.isidentifier() and prefix and prefix[-1] in PREFIX_SEPARATORS:
        return _Segment(_PREFIX_PARAM, text=prefix, name=name)
    return _Segment(_LITERAL, text=segment)


class Pattern:
    """A compiled pattern; :meth:`match` returns a :class:`Route` or ``None``."""

    __slots__ = ("_literal", "_segments", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        path = source.split("?", 1)[0]
        segments: list[_Segment] = []
        for raw in _split(path):
            segment = _compile_segment(raw)
            segments.append(segment)
            if segment.kind == _WILDCARD:
                break
        self._segments = tuple(segments)
        names = [s.name for s in segments if s.name]
        if len(names) != len(set(names)):
            raise ValueError(f"pattern {source!r} uses a parameter name twice")
        # A pattern made only of literals matches one normalised path: compare strings.
        if all(s.kind == _LITERAL for s in segments):
            self._literal: str | None = "/".join(s.text for s in segments)
        else:
            self._literal = None

    @property
    def is_literal(self) -> bool:
        """True when the pattern has no parameters and no wildcard."""
        return self._literal is not None

    def match(self, path: str) -> Route | None:
        """Match ``path`` (which may carry a ``?query``) against this pattern."""
        path, _, query = path.partition("?")
        if self._literal is not None:
            if path != self._literal and "/".join(map(unquote, _split(path))) != self._literal:
                return None
            return Route(query=_parse_query(query))
        parts = _split(path)
        params: dict[str, str] = {}
        wildcard: str | None = None
        index = 0
        for segment in self._segments:
            if segment.kind == _WILDCARD:
                wildcard = unquote("/".join(parts[index:]))
                index = len(parts)
                break
            if index >= len(parts):
                return None
            part = parts[index]
            index += 1
            if segment.kind == _LITERAL:
                if part != segment.text and unquote(part) != segment.text:
                    return None
            elif segment.kind == _PARAM:
                params[segment.name] = unquote(part)
            else:
                if len(part) <= len(segment.text) or not part.startswith(segment.text):
                    return None
                params[segment.name] = unquote(part[len(segment.text):])
        if index != len(parts):
            return None
        return Route(params=params, query=_parse_query(query), wildcard=wildcard)

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


def _parse_query(query: str) -> dict[str, list[str]]:
    return parse_qs(query, keep_blank_values=True) if query else {}


@lru_cache(maxsize=4096)
def compile_pattern(source: str) -> Pattern:
    """Compile ``source`` once (results are cached)."""
    return Pattern(source)


def parse(route: str, current_path: str) -> Route | None:
    """Match ``current_path`` against the pattern ``route``; ``None`` when it does not match."""
    return compile_pattern(route).match(current_path)


def channel_name_problem(name: str, max_length: int) -> str | None:
    """Why a client may not join a channel called ``name``, or None: longer than
    ``max_length`` characters, a control character (a log or terminal could be fooled by
    it), or ``*`` (the admin API's channel filters read it as a wildcard)."""
    if len(name) > max_length:
        return (f"Channel name too long: {len(name)} characters, at most {max_length} "
                "(max_channel_name_length)")
    for char in name:
        if char < " " or "\x7f" <= char <= "\x9f":
            return f"Channel name contains the control character {char!r}"
    if "*" in name:
        return "Channel name contains '*'"
    return None


__all__ = ["PREFIX_SEPARATORS", "Pattern", "channel_name_problem", "compile_pattern", "parse"]
