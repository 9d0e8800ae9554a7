"""Property tests of the path pattern matcher (endpoints, channels, event names)."""

from __future__ import annotations

from urllib.parse import parse_qs, quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pondsocket import Route, parse
from pondsocket.patterns import PREFIX_SEPARATORS, compile_pattern

PROPERTY = settings(max_examples=150, deadline=None)

# Literal segments: no ":", "*", "%", "/" or "?", so they are plain text in both roles.
LITERAL = st.text(alphabet="abcXYZ019-_.~", min_size=1, max_size=6)
NAMES = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), min_size=1,
                 max_size=4, unique=True)
# Any non-empty segment value; it travels URL-encoded.
VALUE = st.text(min_size=1, max_size=12)
# A value that is safe to put in a path without encoding.
RAW_VALUE = st.text(min_size=1, max_size=12).filter(lambda s: not set(s) & set("/?%"))
QUERY = st.text(max_size=30)


def encode(value: str) -> str:
    return quote(value, safe="")


@PROPERTY
@given(NAMES, st.data())
def test_params_round_trip_url_encoded_values(names, data):
    values = data.draw(st.lists(VALUE, min_size=len(names), max_size=len(names)))
    pattern = "/" + "/".join(f":{n}" for n in names)
    path = "/" + "/".join(encode(v) for v in values)
    route = parse(pattern, path)
    assert route is not None
    assert route.params == dict(zip(names, values, strict=True))
    assert route.wildcard is None


@PROPERTY
@given(NAMES, st.data())
def test_params_round_trip_raw_values(names, data):
    values = data.draw(st.lists(RAW_VALUE, min_size=len(names), max_size=len(names)))
    pattern = "/room/" + "/".join(f":{n}" for n in names)
    route = parse(pattern, "/room/" + "/".join(values))
    assert route is not None and route.params == dict(zip(names, values, strict=True))


@PROPERTY
@given(st.lists(st.one_of(LITERAL, NAMES.map(lambda n: ":" + n[0])), min_size=1,
                max_size=5, unique=True),
       st.data())
def test_trailing_and_doubled_slashes_do_not_matter(segments, data):
    pattern = "/" + "/".join(segments)
    parts = [s if not s.startswith(":") else encode(data.draw(VALUE)) for s in segments]
    path = "/".join(parts)
    expected = parse(pattern, "/" + path)
    assert expected is not None
    for variant in (path, path + "/", "/" + path + "/", "//" + path.replace("/", "//")):
        assert parse(pattern, variant) == expected
    assert parse(pattern + "/", "/" + path) == expected
    assert parse(pattern.lstrip("/"), path) == expected


@PROPERTY
@given(st.lists(LITERAL, min_size=1, max_size=4), st.lists(LITERAL, min_size=1, max_size=4))
def test_literal_patterns_match_only_themselves(a, b):
    pattern = "/" + "/".join(a)
    assert compile_pattern(pattern).is_literal
    assert parse(pattern, pattern) == Route()
    # An encoded spelling of the same path is the same path.
    assert parse(pattern, "/" + "/".join(quote(s, safe="") for s in a)) is not None
    assert (parse(pattern, "/" + "/".join(b)) is not None) == (a == b)


@PROPERTY
@given(st.lists(LITERAL, min_size=1, max_size=3))
def test_literal_matching_is_case_sensitive(segments):
    pattern = "/" + "/".join(segments)
    other = pattern.swapcase()
    assume(other != pattern)
    assert parse(pattern, other) is None


@PROPERTY
@given(st.lists(LITERAL, max_size=3), st.lists(VALUE, max_size=5), LITERAL)
def test_wildcard_captures_the_rest(prefix, rest, ignored):
    pattern = "/" + "/".join([*prefix, "*", ignored])  # segments after * are ignored
    path = "/" + "/".join([*prefix, *(encode(v) for v in rest)])
    route = parse(pattern, path)
    assert route is not None
    assert route.wildcard == "/".join(rest)
    assert route.params == {}


@PROPERTY
@given(st.lists(LITERAL, min_size=1, max_size=3), LITERAL)
def test_without_wildcard_segment_counts_must_match(segments, extra):
    pattern = "/" + "/".join(f":p{i}" for i in range(len(segments)))
    assert parse(pattern, "/" + "/".join(segments)) is not None
    assert parse(pattern, "/" + "/".join([*segments, extra])) is None
    if len(segments) > 1:
        assert parse(pattern, "/" + "/".join(segments[:-1])) is None


@PROPERTY
@given(st.one_of(st.just("/chat/:room"), st.just("/chat/lobby"), st.just("/files/*"),
                 st.just("/item-:id")),
       st.one_of(st.just("/chat/1"), st.just("/chat/lobby"), st.just("/files/a/b"),
                 st.just("/item-42"), st.just("/nope"), LITERAL.map(lambda s: "/" + s)),
       QUERY)
def test_query_never_affects_matching(pattern, path, query):
    plain = parse(pattern, path)
    with_query = parse(pattern, f"{path}?{query}")
    assert (plain is None) == (with_query is None)
    if plain is not None:
        assert with_query.params == plain.params
        assert with_query.wildcard == plain.wildcard
        assert with_query.query == (parse_qs(query, keep_blank_values=True) if query else {})


@PROPERTY
@given(LITERAL.filter(lambda s: s[-1] not in PREFIX_SEPARATORS),
       st.sampled_from(PREFIX_SEPARATORS), NAMES.map(lambda n: n[0]), VALUE)
def test_prefix_param_rule(head, separator, name, value):
    prefix = head + separator
    pattern = f"/{prefix}:{name}"
    route = parse(pattern, f"/{prefix}{encode(value)}")
    assert route is not None and route.params == {name: value}
    assert parse(pattern, f"/{prefix}") is None  # the param part may not be empty
    assert parse(pattern, f"/x{prefix}{encode(value)}") is None
    # Without a separator before the colon the segment is a literal (Phoenix-style names).
    literal = f"/{head}:{name}"
    assert compile_pattern(literal).is_literal
    assert parse(literal, literal) is not None
    assert parse(literal, f"/{head}{encode(value)}") is None
    assert parse(literal, f"/{head}:{name}x") is None


@pytest.mark.parametrize(("pattern", "path", "params"), [
    ("/chat/:room", "/chat/42", {"room": "42"}),
    ("/chat/:room", "/chat/a%20b", {"room": "a b"}),
    ("/item-:id", "/item-7", {"id": "7"}),
    ("/v1.:ver/x", "/v1.2/x", {"ver": "2"}),
    ("chat:message", "chat:message", {}),
])
def test_examples(pattern, path, params):
    route = parse(pattern, path)
    assert route is not None and route.params == params


@pytest.mark.parametrize(("pattern", "path"), [
    ("chat:message", "chatroom"),  # upstream's prefix quirk is gone
    ("room:lobby", "room:other"),
    ("/chat/:room", "/chat"),
    ("/chat/:room", "/chat/1/2"),
])
def test_non_matches(pattern, path):
    assert parse(pattern, path) is None


def test_duplicate_param_names_are_rejected():
    with pytest.raises(ValueError):
        compile_pattern("/:a/x/:a")
