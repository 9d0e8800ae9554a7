"""A malformed message on the bus (garbage, nesting too deep for the codec) is counted as
rejected and changes nothing: the nodes keep serving their channels."""

from __future__ import annotations

import pytest

from tests.cluster.frames import is_message
from tests.cluster.inproc import fence

pytestmark = pytest.mark.timeout(20)

TOPIC = "pondsocket:v1:default:socket:/chat/1"


async def test_garbage_on_the_bus_is_rejected_and_the_nodes_keep_serving(make_node, spy):
    n1, n2 = make_node("n1"), make_node("n2")
    a, b = await n1.join("a"), await n2.join("b")
    await b.wait_presence({"a", "b"})
    rejected = n2.cluster.rejected
    for garbage in (b"[" * 50_000 + b"]" * 50_000, b'{"protocol": ' + b"[" * 50_000, b"\xff",
                    b'"a string"'):
        await spy.publish(TOPIC, garbage)
    await fence(a, b)
    assert n2.cluster.rejected - rejected == 4
    await a.send("message", {"id": "after"})
    await b.wait_for(is_message(id="after"))
