"""The SDK on the presence-diff extension: live presence, events and counts as without it."""

from __future__ import annotations

import pytest

from .conftest import connected

TIMEOUT = 5.0


async def presence_until(events, *names: str) -> list[tuple[str, str]]:
    """Read presence events until each of ``names`` changed; (kind, name) of each."""
    seen: list[tuple[str, str]] = []
    while not set(names) <= {name for _, name in seen}:
        event = await events.get(TIMEOUT)
        seen.append((event.kind, event.changed.get("name")))
    return seen


@pytest.mark.parametrize("transport", ["websocket", "sse"])
async def test_diffs_feed_the_same_presence_and_events(demo_server, make_client,
                                                       transport) -> None:
    ada = await connected(make_client, demo_server, "ada", transport=transport)
    assert "presence-diff" in ada.extensions
    old = await connected(make_client, demo_server, "old", extensions=())
    chat = await ada.join("/chat/big")
    events = chat.presence_events()
    assert await presence_until(events, "ada") == [("JOIN", "ada")]  # its own, first
    old_chat = await old.join("/chat/big")
    bob = await connected(make_client, demo_server, "bob", transport=transport)
    bob_chat = await bob.join("/chat/big")
    seen = await presence_until(events, "bob", "old")
    assert chat.member_count == 3
    assert sorted(seen) == [("JOIN", "bob"), ("JOIN", "old")]
    assert sorted(e["name"] for e in chat.presence) == ["ada", "bob", "old"]
    bob_events = bob_chat.presence_events()
    await presence_until(bob_events, "bob")
    assert chat.presence == bob_chat.presence  # the same order from STATE and from DIFFs
    await old_chat.leave()
    assert await presence_until(events, "old") == [("LEAVE", "old")]
    assert chat.member_count == 2
