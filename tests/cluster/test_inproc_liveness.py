"""Node liveness on an in-process cluster: a silent node's members leave within the
heartbeat timeout; a node that comes back is seen again; a node that closes says goodbye."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.cluster.frames import is_message, is_presence, names
from tests.cluster.inproc import fence, subscribe_all, unsubscribe_all, wait_until

pytestmark = pytest.mark.timeout(20)

HB = {"heartbeat_interval": 0.1, "heartbeat_timeout": 0.4}


# docs/cluster.md: a dead node's members leave "between heartbeat_timeout and 1.125 x
# heartbeat_timeout after its last message" (it is looked for eight times per timeout).
# A 3 s timeout keeps the margins below small next to it on a busy machine.
DEAD = {"heartbeat_interval": 1.0, "heartbeat_timeout": 3.0}
EARLY_MARGIN = 0.05  # the spy may hear the last message a little after the survivors do
LATE_MARGIN = 0.2  # the sweep's timer firing late, the LEAVE reaching the client


async def test_dead_node_members_leave_within_heartbeat_timeout(make_node, spy):
    """Timed from n2's last message as the bus delivered it. That message is sent half a
    sweep period after a sweep of n1 (which sweeps right after each of its heartbeats), so
    that n1 notices at a sweep half a period past the timeout: a sweep period longer than
    the documented timeout / 8 shows as a late LEAVE."""
    last_heard: dict[str, float] = {}  # node -> when the bus delivered its latest message
    n1_beat = asyncio.Event()

    async def watch(topic: str, data: bytes) -> None:
        message = json.loads(data)
        last_heard[message["sourceNodeId"]] = time.monotonic()
        if message["sourceNodeId"] == "n1" and message["type"] == "NODE_HEARTBEAT":
            n1_beat.set()

    await spy.subscribe("pondsocket:v1:default:*", watch)
    n1, n2, n3 = make_node("n1", **DEAD), make_node("n2", **DEAD), make_node("n3", **DEAD)
    a = await n1.join("a", "alice")
    b1, b2 = await n2.join("b1", "bob"), await n2.join("b2", "bea")
    c = await n3.join("c", "carol")
    for client in (a, b1, b2, c):
        await client.wait_presence({"alice", "bob", "bea", "carol"})
    timeout = DEAD["heartbeat_timeout"]
    n1_beat.clear()
    await n1_beat.wait()  # n1 has just swept
    await asyncio.sleep(timeout / 16)  # places the last message; not a synchronisation
    await b1.send("message", {"id": "last words"})
    await a.wait_for(is_message(id="last words"))
    await n2.pause()  # no goodbye: no USER_LEFT, no heartbeats

    async def leaves(client) -> dict[str, float]:
        gone: dict[str, float] = {}
        while set(gone) != {"bob", "bea"}:
            frame, _ = await client.wait_for(is_presence("LEAVE"), timeout=2 * timeout)
            gone[frame["payload"]["changed"]["name"]] = time.monotonic()
        return gone

    # Both clients read at once, so a frame is read as soon as it arrives.
    seen = await asyncio.gather(leaves(a), leaves(c))
    silent_since = last_heard["n2"]
    for client, gone in zip((a, c), seen, strict=True):
        after = {name: round(t - silent_since, 3) for name, t in gone.items()}
        print(f"{client.id} saw LEAVE {after} s after n2's last message")
        for elapsed in after.values():
            assert timeout - EARLY_MARGIN <= elapsed <= 1.125 * timeout + LATE_MARGIN, after
        assert sorted(client.presence or []) == ["alice", "carol"]
    print("a saw:", a.log())
    for node in (n1, n3):
        assert "n2" not in node.cluster.nodes
        assert set(await node.channel().get_assigns()) == {"a", "c"}
    # the survivors still talk to each other
    await a.send("message", {"id": "still"})
    await c.wait_for(is_message(id="still"))


async def test_a_node_declared_dead_is_seen_again_when_it_comes_back(make_node):
    """A frozen process (GC pause, SIGSTOP, overloaded host) is declared dead, then speaks
    again: its members must reappear instead of staying invisible."""
    n1, n2 = make_node("n1", **HB), make_node("n2", **HB)
    a = await n1.join("a", "alice")
    b = await n2.join("b", "bob")
    await a.wait_presence({"alice", "bob"})
    await n2.pause()
    await a.wait_for(is_presence("LEAVE", "bob"), timeout=2.0)
    await n2.resume()
    await a.wait_presence({"alice", "bob"}, timeout=2.0)
    await b.wait_presence({"alice", "bob"}, timeout=2.0)
    print("a saw:", a.log())
    print("b saw:", b.log())
    assert set(n1.channel().remote_members) == {"b"}
    assert set(n2.channel().remote_members) == {"a"}
    await a.send("message", {"id": "back"})
    await b.wait_for(is_message(id="back"))
    await b.send("message", {"id": "back2"})
    await a.wait_for(is_message(id="back2"))


async def test_a_new_node_knows_its_peers_at_once(make_node):
    """Default heartbeats (every 30 s): n1's first heartbeat went out before n2 listened,
    and n1 answers n2's first one, so n2 counts n1 (SSE relays and admin queries go to the
    nodes it counts) at once rather than up to 30 s later."""
    n1 = make_node("n1")
    await n1.pond.start()
    await wait_until(lambda: not n1.cluster._outbox, what="n1's first heartbeat published")
    n2 = make_node("n2")
    await n2.pond.start()
    await wait_until(lambda: "n1" in n2.cluster.nodes, what="n2 to count n1")
    assert "n2" in n1.cluster.nodes


async def test_a_closing_node_says_goodbye(make_node):
    # default heartbeats (30 s / 90 s): the LEAVE can only come from the goodbye
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a", "alice")
    await n2.join("b", "bob")
    await a.wait_presence({"alice", "bob"})
    assert "n2" in n1.cluster.nodes
    await n2.pond.close()
    frame, _ = await a.wait_for(is_presence("LEAVE", "bob"), timeout=2.0)
    assert names(frame) == ["alice"]
    assert not n1.channel().remote_members
    # Its last message says it stopped: n1 no longer counts it (nor asks it admin queries)
    # long before the 90 s heartbeat timeout.
    await wait_until(lambda: "n2" not in n1.cluster.nodes, what="n1 to forget n2")


async def test_stopping_a_nodes_heartbeats_does_not_affect_messages_in_flight(make_node):
    """Frames sent just before a node dies are still delivered exactly once."""
    n1, n2 = make_node("n1", **HB), make_node("n2", **HB)
    a = await n1.join("a")
    b = await n2.join("b")
    await a.wait_presence({"a", "b"})
    for k in range(20):
        await b.send("message", {"id": f"m{k}"})
    got = await fence(b, a)  # published by n2 before it goes silent
    await n2.pause()
    ids = [f["payload"]["id"] for f in got["a"] if f["action"] == "BROADCAST"]
    assert ids == [f"m{k}" for k in range(20)]
    await a.wait_for(is_presence("LEAVE", "b"), timeout=2.0)


async def test_a_node_restarted_with_the_same_id_drops_its_old_members(make_node):
    """A fixed ``node_id`` (as in a StatefulSet) and a crash-restart long before the
    heartbeat timeout (90 s here): the old process's members must not stay as ghosts. The
    new process's first heartbeat says it is starting."""
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a", "alice")
    await n2.join("b", "bob")
    await a.wait_presence({"alice", "bob"})
    await n2.pause()  # crashed
    n2_again = make_node("n2")  # the same id, a new process
    await n2_again.pond.start()
    frame, _ = await a.wait_for(is_presence("LEAVE", "bob"), timeout=2.0)
    assert names(frame) == ["alice"]
    c = await n2_again.join("c", "carol")
    await a.wait_presence({"alice", "carol"})
    await c.wait_presence({"alice", "carol"})
    print("a saw:", a.log())


async def test_a_restart_noticed_late_is_still_noticed(make_node):
    """A peer that missed the new process's first heartbeat notices the restart by the
    incarnation of a later one, drops the old members and asks for the current ones."""
    n1, n2 = make_node("n1"), make_node("n2")
    a = await n1.join("a", "alice")
    await n2.join("b", "bob")
    await a.wait_presence({"alice", "bob"})
    n2.cluster._send_heartbeat()
    await wait_until(lambda: n1.cluster._incarnations.get("n2") == n2.cluster.incarnation,
                     what="n1 knows n2's incarnation")
    await n2.pause()  # crashed
    await unsubscribe_all(n1)  # n1 hears nothing for a while
    n2_again = make_node("n2")
    await n2_again.join("c", "carol")
    await wait_until(lambda: not n2_again.cluster._outbox, what="n2 announced carol")
    await subscribe_all(n1)
    n2_again.cluster._send_heartbeat()  # a periodic one
    frame, _ = await a.wait_for(is_presence("LEAVE", "bob"))
    assert names(frame) == ["alice"]
    await a.wait_presence({"alice", "carol"})
    assert set(n1.channel().remote_members) == {"c"}
