"""Upstream ``pondsocket`` 0.0.7 + ``pondsocket-asgi`` with the same relay channel.

Run only in the benchmark's separate upstream virtualenv (see benchmarks/processes.py).
"""

from pondsocket import PondSocket  # the upstream package, in its own venv
from pondsocket_asgi import PondASGIApp


async def accept_all(ctx) -> None:  # noqa: ANN001
    ctx.accept()


async def join(ctx) -> None:  # noqa: ANN001
    await ctx.accept()
    if ctx.join_params.get("track"):
        await ctx.track({"name": ctx.join_params.get("name", "")})


async def relay(ctx) -> None:  # noqa: ANN001
    await ctx.broadcast(ctx.event_name, ctx.get_payload())


async def echo(ctx) -> None:  # noqa: ANN001
    await ctx.reply("pong", ctx.get_payload())


pond = PondSocket()
endpoint = pond.create_endpoint("/ws", accept_all)
lobby = endpoint.create_channel("/bench/:id", join)
lobby.on_message("msg", relay)
lobby.on_message("ping", echo)
app = PondASGIApp(pond)
