"""A module ``pondctl serve`` loads in the tests: ``tests.asgi.serve_target:pond``.

``pond`` is a bare PondSocket (pondctl wraps it in a PondASGIApp): endpoint ``/ws`` accepts
everyone, channel ``/echo/:id`` broadcasts every ``say`` event to its members. Its
``max_message_size`` is 1024 bytes, so pondctl limits uvicorn to 4096-byte frames.
"""

from __future__ import annotations

from pondsocket import ConnectionContext, EventContext, JoinContext, Options, PondSocket

pond = PondSocket(options=Options(max_message_size=1024))

NOT_AN_APP = 42


async def _accept(ctx: ConnectionContext) -> None:
    ctx.accept()


async def _join(ctx: JoinContext) -> None:
    await ctx.accept()


async def _say(ctx: EventContext) -> None:
    await ctx.broadcast("said", ctx.payload)


_lobby = pond.create_endpoint("/ws", _accept).create_channel("/echo/:id", _join)
_lobby.on_message("say", _say)
