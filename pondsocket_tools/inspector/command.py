"""``pondctl inspect [URL] [--token]``: the inspector TUI (see ``docs/inspector.md``)."""

from __future__ import annotations

import click

from .api import DEFAULT_URL


@click.command()
@click.argument("url", default=DEFAULT_URL, required=False, metavar="[URL]")
@click.option("-t", "--token", envvar="PONDCTL_ADMIN_TOKEN", show_envvar=True,
              help="The admin API's bearer token.")
@click.option("--interval", default=1.0, show_default=True,
              type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="How often the admin documents are polled.")
def inspect(url: str, token: str | None, interval: float) -> None:
    """Watch a server or cluster live through its admin API: endpoints, channels,
    members and presence, connections, nodes, message rates and the event stream; evict a
    member or close a channel when the server allows write actions.

    URL is the admin API's base URL [default: http://127.0.0.1:8765/_pond/admin].

    \b
    Examples:
      pondctl demo --admin-token secret        # in one terminal
      pondctl inspect --token secret           # in another
      PONDCTL_ADMIN_TOKEN=secret pondctl inspect https://chat.example.com/_pond/admin
    """
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter("the admin URL must start with http:// or https://",
                                 param_hint="URL")
    from .api import AdminClient
    from .app import InspectorApp

    InspectorApp(AdminClient(url, token), poll_interval=interval).run()
