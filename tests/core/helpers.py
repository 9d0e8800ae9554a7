"""Helpers shared by the core tests: frame builders, connecting, collecting frames."""


from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from typing import Any

from pondsocket import (
    ConnectionContext,
    Endpoint,
    IncomingConnection,
    InMemoryTransport,
    JoinContext,
    MetricsCollector,
)

_ids = itertools.count(1)


def rid(prefix: str = "req") -> str:
    """A unique, readable request id."""
    return f"{prefix}-{next(_ids)}"


def join_msg(channel: str, payload: dict[str, Any] | None = None, *,
             request_id: str | None = None) -> dict[str, Any]:
    return {"action": "JOIN_CHANNEL", "event": "JOIN_CHANNEL", "channelName": channel,
            "requestId": request_id or rid("join"), "payload": payload or {}}


def leave_msg(channel: str, *, request_id: str | None = None) -> dict[str, Any]:
    return {"action": "LEAVE_CHANNEL", "event": "LEAVE_CHANNEL", "channelName": channel,
            "requestId": request_id or rid("leave"), "payload": {}}


def event_msg(channel: str, event: str, payload: dict[str, Any] | None = None, *,
              request_id: str | None = None) -> dict[str, Any]:
    return {"action": "BROADCAST", "event": event, "channelName": channel,
            "requestId": request_id or rid("msg"), "payload": payload or {}}


async def accept_connection(ctx: ConnectionContext) -> None:
    ctx.accept()


async def accept_join(ctx: JoinContext) -> None:
    await ctx.accept()


async def accept_and_track(ctx: JoinContext) -> None:
    """Accept and track ``{"name": <join param name or user id>}``."""
    await ctx.accept()
    await ctx.track({"name": ctx.join_params.get("name", ctx.user_id)})


async def connect(endpoint: Endpoint, uid: str, query: dict[str, str] | None = None, *,
                  outbox_limit: int = 0, read_connect: bool = True,
                  **incoming: Any) -> InMemoryTransport:
    """Run the connection handler for ``uid``, register an in-memory transport for it.

    With ``read_connect`` the CONNECT frame (and a pending connection reply, if any) is
    read and checked so the test starts with an empty outbox.
    """
    ctx = await endpoint.request_connection(
        IncomingConnection(uid, "127.0.0.1", query=dict(query or {}), **incoming))
    assert ctx.is_accepted, ctx.decline_info
    transport = InMemoryTransport(uid, assigns=ctx.assigns, outbox_limit=outbox_limit)
    await endpoint.register_transport(transport, ctx)
    if read_connect:
        first = await transport.receive_json()
        assert first["action"] == "CONNECT", first
        if ctx.pending_reply is not None:
            await transport.receive_json()
    return transport


async def frames(transport: InMemoryTransport) -> list[dict[str, Any]]:
    """Every frame the server produced for ``transport`` so far, as wire dicts."""
    await transport.drain()
    out = []
    while transport.outbox_size():
        out.append(await transport.receive_json(wait=None))
    return out


async def join(transport: InMemoryTransport, channel: str,
               payload: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Join ``channel``; assert it was acknowledged; return the frames that came with it."""
    message = join_msg(channel, payload)
    await transport.push_inbound(message)
    got = await frames(transport)
    assert got, "no answer to a join"
    assert (got[0]["action"], got[0]["event"], got[0]["requestId"]) == (
        "SYSTEM", "ACKNOWLEDGE", message["requestId"]), got
    return got


def only(got: list[dict[str, Any]]) -> dict[str, Any]:
    """The single frame of ``got``."""
    assert len(got) == 1, got
    return got[0]


async def let_ready_tasks_run(rounds: int = 20) -> None:
    """Let every task that is ready run (used only to check that something did NOT happen)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class RecordingMetrics:
    """A MetricsCollector that records every call."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple]] = defaultdict(list)

    def __getattr__(self, name: str):
        if name not in MetricsCollector.__dict__:
            raise AttributeError(name)

        def record(*args) -> None:
            self.calls[name].append(args)

        return record


