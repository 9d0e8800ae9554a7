"""Upstream ``pondsocket`` 0.0.7 + ``pondsocket-asgi`` with the same relay channel.

Run only in the benchmark's separate upstream virtualenv (see benchmarks/processes.py).
"""

from pondsocket_asgi import PondASGIApp

from pondsocket import PondSocket  # the upstream package, in its own venv


async def accept_all(ctx) -> None:
    ctx.accept()


async def join(ctx) -> None:
    await ctx.accept()
    if ctx.join_params.get("track"):
        await ctx.track({"name": ctx.join_params.get("name", "")})


async def relay(ctx) -> None:
    await ctx.broadcast(ctx.event_name, ctx.get_payload())


async def echo(ctx) -> None:
    await ctx.reply("pong", ctx.get_payload())


pond = PondSocket()
endpoint = pond.create_endpoint("/ws", accept_all)
lobby = endpoint.create_channel("/bench/:id", join)
lobby.on_message("msg", relay)
lobby.on_message("ping", echo)
app = PondASGIApp(pond)
