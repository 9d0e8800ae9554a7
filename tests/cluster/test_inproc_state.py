"""Presence, assigns, eviction and state transfer between in-process nodes."""

from __future__ import annotations

import pytest

from tests.cluster.frames import is_message, is_presence, names
from tests.cluster.inproc import fence, subscribe_all, unsubscribe_all, wait_until

pytestmark = pytest.mark.timeout(20)


async def test_presence_join_update_leave_seen_on_every_node(make_node):
    n1, n2, n3 = make_node("n1"), make_node("n2"), make_node("n3")
    a = await n1.join("a", "alice")
    b = await n2.join("b", "bob")
    # Each JOIN is seen everywhere, with the full list.
    frame, _ = await a.wait_for(is_presence("JOIN", "bob"))
    assert sorted(names(frame)) == ["alice", "bob"]
    frame, _ = await b.wait_for(is_presence("JOIN", "alice"))
    assert sorted(names(frame)) == ["alice", "bob"]
    c = await n3.join("c", "carol")
    for client in (a, b, c):
        await client.wait_presence({"alice", "bob", "carol"})

    await b.send("status", {"name": "bob", "status": "away"})
    for client in (a, b, c):
        frame, _ = await client.wait_for(is_presence("UPDATE", "bob"))
        assert frame["payload"]["changed"] == {"name": "bob", "status": "away"}
        assert {"name": "bob", "status": "away"} in frame["payload"]["presence"]
        assert len(frame["payload"]["presence"]) == 3

    await c.leave()
    for client in (a, b):
        frame, _ = await client.wait_for(is_presence("LEAVE", "carol"))
        assert frame["payload"]["changed"] == {"name": "carol"}  # the presence that left
        assert sorted(names(frame)) == ["alice", "bob"]

    # A dropped connection leaves too.
    b.transport.disconnect()
    frame, _ = await a.wait_for(is_presence("LEAVE", "bob"))
    assert names(frame) == ["alice"]
    await wait_until(lambda: not n1.channel().remote_members, what="remote members gone")
    assert await n1.channel().get_presence() == {"a": {"name": "alice"}}


async def test_untracked_presence_leaves_remote_lists(make_node):
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a", "alice")
    b = await n2.join("b", "bob")
    await a.wait_presence({"alice", "bob"})
    await b.send("untrack")
    frame, _ = await a.wait_for(is_presence("LEAVE", "bob"))
    assert names(frame) == ["alice"]
    # still a member (assigns, messages) without presence
    assert "b" in n1.channel().remote_members
    await a.send("message", {"id": "still"})
    await b.wait_for(is_message(id="still"))


async def test_assigns_are_replicated(make_node):
    n1, n2, n3 = make_node("n1"), make_node("n2"), make_node("n3")
    a = await n1.join("a", assigns={"role": "admin"})
    b = await n2.join("b", assigns={"role": "guest"})
    c = await n3.join("c")
    for client in (a, b, c):
        await client.wait_presence({"a", "b", "c"})
    await b.send("assign", {"score": 7})
    await fence(b, a, c)  # n2 published the assigns before the fence
    for node in (n1, n3):
        assigns = await node.channel().get_assigns()
        assert assigns["b"]["role"] == "guest" and assigns["b"]["score"] == 7, assigns
        assert assigns["a"]["role"] == "admin", assigns
        user = await node.channel().get_user("b")
        assert user.assigns["score"] == 7 and user.presence == {"name": "b"}
    assert (await n3.channel().get_user_assign("a", "role")) == "admin"


async def test_remote_eviction(make_node):
    n1, n2, n3 = make_node("n1"), make_node("n2"), make_node("n3")
    a = await n1.join("a", "alice")
    b = await n2.join("b", "bob")
    b2 = await n2.join("b2", "bobby")
    c = await n3.join("c", "carol")
    everyone = {"alice", "bob", "bobby", "carol"}
    for client in (a, b, b2, c):
        await client.wait_presence(everyone)
    await a.send("kick", {"ids": ["b"], "reason": "bye"})  # b is on n2
    frame, _ = await b.wait_for(lambda f: f["action"] == "SYSTEM" and f["event"] == "EVICTED")
    assert frame["payload"] == {"reason": "bye"} and frame["channelName"] == "/chat/1"
    for client in (a, b2, c):
        frame, _ = await client.wait_for(is_presence("LEAVE", "bob"))
        assert sorted(names(frame)) == ["alice", "bobby", "carol"]
    # gone everywhere, assigns included; the evicted connection is still open
    await fence(a, b2, c)
    for node in (n1, n3):
        assert "b" not in await node.channel().get_assigns()
    assert "b" not in n2.channel().members
    assert await n2.endpoint.get_transport("b") is not None


async def test_local_eviction_makes_peers_forget_the_user(make_node):
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a", assigns={"k": 1})
    a2 = await n1.join("a2")
    b = await n2.join("b")
    await b.wait_presence({"a", "a2", "b"})
    await n1.channel().evict_user("a", "local kick")  # evicted on its own node
    frame, _ = await a.wait_for(lambda f: f["event"] == "EVICTED")
    assert frame["payload"] == {"reason": "local kick"}
    frame, _ = await b.wait_for(is_presence("LEAVE", "a"))
    await fence(a2, b)  # USER_LEFT was published before the fence
    assert set(n2.channel().remote_members) == {"a2"}
    assert set(await n2.channel().get_assigns()) == {"a2", "b"}
    # and n2 no longer addresses it: an eviction of "a" from n2 is a no-op
    assert not await n2.channel().evict_user("a")


async def test_a_node_joining_a_busy_channel_gets_its_state(make_node):
    n1, n2 = make_node("n1"), make_node("n2")
    members = [await n1.join("a1", assigns={"n": 1}), await n1.join("a2", assigns={"n": 2}),
               await n2.join("b1", assigns={"n": 3})]
    untracked = await n2.join("b2", track=False, assigns={"n": 4})
    for client in members:
        await client.wait_presence({"a1", "a2", "b1"})
    n3 = make_node("n3")
    c = await n3.join("c")
    await c.wait_presence({"a1", "a2", "b1", "c"})
    channel = n3.channel()
    await wait_until(lambda: set(channel.remote_members) == {"a1", "a2", "b1", "b2"},
                     what="every remote member known on n3")
    assert {uid: a["n"] for uid, a in (await channel.get_assigns()).items() if "n" in a} == {
        "a1": 1, "a2": 2, "b1": 3, "b2": 4}
    assert {r.node_id for r in channel.remote_members.values()} == {"n1", "n2"}
    # and the newcomer's traffic reaches everyone
    await c.send("message", {"id": "hi"})
    for client in (*members, untracked):
        await client.wait_for(is_message(id="hi"))


async def test_resync_applies_an_authoritative_state(make_node):
    """A node that missed messages (its subscription was gone) resynchronises: who left
    leaves, who came appears, presence that was untracked goes, assigns are current."""
    n1, n2 = make_node("n1"), make_node("n2")
    a1 = await n1.join("a1", "ann")
    a2 = await n1.join("a2", "abe")
    b = await n2.join("b", "bob")
    await b.wait_presence({"ann", "abe", "bob"})
    await unsubscribe_all(n2)  # n2 stops hearing; n1 still hears n2
    await a2.leave()
    await a1.send("untrack")
    await a1.send("assign", {"late": True})
    a3 = await n1.join("a3", "amy")
    await a3.wait_presence({"amy", "bob"})  # n1 is done; n2 missed all of it
    assert set(n2.channel().remote_members) == {"a1", "a2"}
    await subscribe_all(n2)
    await n2.cluster._resync()  # what a pub/sub reconnect triggers
    await b.wait_presence({"amy", "bob"})
    print("bob saw:", b.log())
    await wait_until(lambda: set(n2.channel().remote_members) == {"a1", "a3"},
                     what="n2's remote members resynchronised")
    assert (await n2.channel().get_user("a1")).assigns.get("late") is True
    assert await n2.channel().get_presence() == {"b": {"name": "bob"},
                                                 "a3": {"name": "amy"}}
    # n1 still has the right picture too (n2's STATE_RESPONSE changed nothing there)
    assert await n1.channel().get_presence() == {"b": {"name": "bob"},
                                                 "a3": {"name": "amy"}}


async def test_broadcast_right_after_a_nodes_first_join_reaches_other_nodes(make_node):
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a")
    b = await n2.join("b")  # n2's first member of /chat/1: n2 knows no remote member yet
    await b.send("message", {"id": "first"})
    await a.wait_for(is_message(id="first"), timeout=1.0)
