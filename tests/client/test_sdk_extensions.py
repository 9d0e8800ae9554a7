"""The SDK asks for protocol extensions and records what the server granted."""

from __future__ import annotations

import pytest

from pondsocket import extensions

from .conftest import connected


@pytest.fixture
def implemented(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the server implemented ``history`` only."""
    monkeypatch.setattr(extensions, "SUPPORTED", frozenset({extensions.HISTORY}))


@pytest.mark.parametrize("transport", ["websocket", "sse"])
async def test_the_sdk_learns_what_the_server_granted(demo_server, make_client, implemented,
                                                      transport) -> None:
    client = await connected(make_client, demo_server, "ada", transport=transport,
                             extensions=("history", "presence-diff"))
    assert "pond_ext=history%2Cpresence-diff" in client.url
    assert client.extensions == {"history"}
    chat = await client.join("/chat/ext")
    while not chat.presence:  # the presence frame may come after the acknowledgement
        await chat.presence_events().get(5.0)
    # The demo's handlers read the query as the application sent it.
    assert [p["name"] for p in chat.presence] == ["ada"]


async def test_without_extensions_the_url_and_the_session_are_plain(demo_server,
                                                                    make_client) -> None:
    client = await connected(make_client, demo_server, "bob", extensions=())
    assert "pond_ext" not in client.url
    assert client.extensions == frozenset()


async def test_a_server_that_grants_nothing_leaves_the_sdk_on_the_upstream_protocol(
        demo_server, make_client, monkeypatch: pytest.MonkeyPatch) -> None:
    # As an older server, or upstream pondsocket: nothing implemented.
    monkeypatch.setattr(extensions, "SUPPORTED", frozenset())
    client = await connected(make_client, demo_server, "cy", extensions=("history",))
    assert client.extensions == frozenset()
    chat = await client.join("/chat/ext")
    messages = chat.messages("message")
    await chat.send("message", {"text": "hi"})
    assert (await messages.get(5.0)).payload["text"] == "hi"
