"""Two apps on one Redis must not share a namespace: their rooms would merge silently. A node
that hears a node of another app (other endpoints or channel patterns) in its namespace says
so in the log, once per peer; nodes of one app stay quiet, and other namespaces are unheard."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.cluster.frames import is_message
from tests.cluster.inproc import wait_until
from tests.core.helpers import accept_join

pytestmark = pytest.mark.timeout(20)


async def test_a_node_of_another_app_in_the_namespace_is_reported_once(
        make_node: Any, caplog: pytest.LogCaptureFixture) -> None:
    n1 = make_node("n1", heartbeat_interval=0.1, heartbeat_timeout=1)
    n2 = make_node("n2", heartbeat_interval=0.1, heartbeat_timeout=1)
    stranger = make_node("stranger", heartbeat_interval=0.1, heartbeat_timeout=1)
    stranger.endpoint.create_channel("/game/:id", accept_join)
    with caplog.at_level(logging.WARNING, "pondsocket.cluster"):
        await n1.pond.start()
        await n2.pond.start()
        await stranger.pond.start()
        # a few heartbeats of each: the warning comes once per peer, not per heartbeat
        await wait_until(lambda: n1.cluster.published >= 4 and stranger.cluster.published >= 4,
                         what="a few heartbeats")
    warned = [r.getMessage() for r in caplog.records if "serves another app" in r.getMessage()]
    assert sorted(w.split()[1] for w in warned) == ["n1", "n2", "stranger", "stranger"], warned
    assert any("/socket[/chat/:room,/game/:id]" in w for w in warned), warned


async def test_nodes_of_one_app_and_other_namespaces_are_quiet(
        make_node: Any, caplog: pytest.LogCaptureFixture) -> None:
    n1, n2 = make_node("n1"), make_node("n2")
    elsewhere = make_node("elsewhere", namespace="other-app")
    elsewhere.endpoint.create_channel("/game/:id", accept_join)
    with caplog.at_level(logging.WARNING, "pondsocket.cluster"):
        a, b = await n1.join("a"), await n2.join("b")
        await elsewhere.join("c")
        await a.wait_presence({"a", "b"})
        await a.send("message", {"id": "hi"})
        await b.wait_for(is_message(id="hi"))
    assert not [r for r in caplog.records if "serves another app" in r.getMessage()]
    assert "c" not in (await n1.channel().get_presence())


def test_the_demo_keeps_to_its_own_namespace() -> None:
    from pondsocket_tools.demo import create_app

    assert create_app("redis://127.0.0.1:1").pond.options.namespace == "demo"
    app = create_app("redis://127.0.0.1:1", namespace="team-a")
    assert app.pond.options.namespace == "team-a"
